"""Throughput benchmarks of the ETL against its floor and its peers (`make bench`)."""
