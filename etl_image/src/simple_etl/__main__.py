import sys

from simple_etl.cli import main

sys.exit(main())
