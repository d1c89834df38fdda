"""Hand-written name and place lists for the nationalities of Random User API 1.4.

The lists are deliberately short: the live API's people share names so often that
`first.last@example.com` repeats across different people, and the warehouse must cope
with that. Scripts follow the live API too: Persian for IR, Cyrillic places but ASCII
transliterated names for UA, diacritics, hyphens and apostrophes for most European sets.
Every name carries the ASCII form the e-mail address is built from, computed once here so
that generating a person never transliterates.
"""

# Names and places are written in their own scripts on purpose, so look-alike letters
# (Turkish dotless i, Cyrillic a/e/o) are data here, not typos.
# ruff: noqa: RUF001

from __future__ import annotations

import unicodedata
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Name:
    text: str  # as displayed, any script
    email_part: str  # lower-case ASCII, spaces removed (apostrophes kept, as the live API does)


@dataclass(frozen=True, slots=True)
class Locale:
    code: str
    country: str
    male: tuple[Name, ...]
    female: tuple[Name, ...]
    last: tuple[Name, ...]
    cities: tuple[str, ...]
    states: tuple[str, ...]
    streets: tuple[str, ...]


# Letters that Unicode does not decompose into "ASCII letter + combining mark".
_NO_DECOMPOSITION = str.maketrans(
    {"ß": "ss", "ø": "o", "Ø": "O", "æ": "ae", "Æ": "AE", "đ": "dj", "Đ": "Dj", "ı": "i"}
)


def to_email_part(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.translate(_NO_DECOMPOSITION))
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    part = plain.replace(" ", "").lower()
    if not part.isascii():
        raise ValueError(f"{text!r} needs an explicit ASCII form")
    return part


def _latin(words: str) -> tuple[Name, ...]:
    return tuple(Name(word, to_email_part(word)) for word in words.split(","))


def _transliterated(words: str) -> tuple[Name, ...]:
    """ASCII transliterations shown as the name itself, as the live API does for UA."""
    return tuple(Name(word.capitalize(), word) for word in words.split(","))


def _romanised(pairs: str) -> tuple[Name, ...]:
    """'native=ascii,…' for scripts that have no mechanical ASCII form."""
    names = []
    for pair in pairs.split(","):
        text, ascii_form = pair.split("=")
        names.append(Name(text, ascii_form))
    return tuple(names)


def _words(words: str) -> tuple[str, ...]:
    return tuple(words.split(","))


def _locale(
    code: str,
    country: str,
    *,
    male: tuple[Name, ...],
    female: tuple[Name, ...],
    last: tuple[Name, ...],
    cities: str,
    states: str,
    streets: str,
) -> Locale:
    return Locale(code, country, male, female, last, _words(cities), _words(states), _words(streets))


LOCALES: dict[str, Locale] = {
    locale.code: locale
    for locale in (
        _locale(
            "AU",
            "Australia",
            male=_latin("Jack,Oliver,Noah,Lachlan,Cooper,Riley,Harrison,Angus"),
            female=_latin("Charlotte,Isla,Matilda,Ruby,Sienna,Chloe,Mia,Harper"),
            last=_latin("Taylor,Nguyen,Kelly,Walsh,Brennan,Murray,Fraser,Hughes"),
            cities="Ballarat,Cairns,Geelong,Wollongong,Toowoomba,Bendigo,Hobart",
            states="New South Wales,Victoria,Queensland,Tasmania,Western Australia,South Australia",
            streets="Wattle Ave,Banksia Rd,Kookaburra St,Jacaranda Dr,Bay View Tce,Eucalypt Cres",
        ),
        _locale(
            "BR",
            "Brazil",
            male=_latin("João,Luís,Caetano,Otávio,Sérgio,Rogério,Tomé,Vinícius"),
            female=_latin("Conceição,Lúcia,Flávia,Cecília,Mônica,Thaís,Letícia,Iara"),
            last=_latin("Araújo,Gonçalves,Simões,Peixoto,Brandão,Falcão,Nogueira,Conceição"),
            cities="Florianópolis,São Luís,Maringá,Juazeiro do Norte,Niterói,Uberlândia,Petrópolis",
            states="Paraná,Bahia,Pernambuco,Goiás,Santa Catarina,Maranhão,Ceará",
            streets="Rua São Jorge,Avenida Brasil,Rua da Paz,Travessa dos Pinheiros,Rua Sete de Setembro",
        ),
        _locale(
            "CA",
            "Canada",
            male=_latin("Liam,Ethan,Logan,Nathan,Félix,Mathis,Owen,Carter"),
            female=_latin("Emma,Léa,Chloé,Ava,Zoé,Abigail,Maëlle,Brooke"),
            last=_latin("Tremblay,Gagnon,Roy,Côté,Bouchard,Campbell,MacDonald,Wong"),
            cities="Lévis,Kelowna,Sherbrooke,Moncton,Saskatoon,Trois-Rivières,Nanaimo",
            states="Québec,Ontario,Manitoba,Nova Scotia,Alberta,British Columbia,Yukon",
            streets="Maple Ave,Rue Principale,Lakeshore Rd,King St,Chemin du Lac,Birch Cres",
        ),
        _locale(
            "CH",
            "Switzerland",
            male=_latin("Lukas,Rémy,Jürg,Noé,Gian,Loïc,Reto,Urs"),
            female=_latin("Léonie,Mélanie,Jana,Zoë,Chantal,Anaïs,Seraina,Brigitte"),
            last=_latin("Müller,Schnyder,Rochat,Bühler,Favre,Küng,Gerber,Zürcher"),
            cities="Winterthur,Fribourg,La Chaux-de-Fonds,Schaffhausen,Yverdon-les-Bains,Köniz,Biel/Bienne",
            states="Zürich,Bern,Vaud,Graubünden,Ticino,Neuchâtel,Aargau",
            streets="Bahnhofstrasse,Rue du Lac,Kirchweg,Chemin des Vignes,Seestrasse,Via Cantonale",
        ),
        _locale(
            "DE",
            "Germany",
            male=_latin("Jürgen,Lukas,Björn,Günther,Felix,Maximilian,Jörg,Uwe"),
            female=_latin("Käthe,Hannelore,Jördis,Sophie,Mareike,Annegret,Bärbel,Lea"),
            last=_latin("Müller,Schäfer,Krüger,Schröder,Weiß,Köhler,Hoffmann,Böhm"),
            cities="Görlitz,Lübeck,Mönchengladbach,Würzburg,Osnabrück,Fürth,Tübingen",
            states="Bayern,Sachsen,Thüringen,Baden-Württemberg,Niedersachsen,Hessen,Brandenburg",
            streets="Schulstraße,Gartenweg,Lindenallee,Mühlenstraße,Birkenweg,Am Bahnhof",
        ),
        _locale(
            "DK",
            "Denmark",
            male=_latin("Mads,Søren,Bjørn,Anders,Frederik,Rasmus,Jørgen,Magnus"),
            female=_latin("Ida,Freja,Sofie,Mathilde,Åse,Signe,Karoline,Astrid"),
            last=_latin("Jensen,Nielsen,Sørensen,Møller,Kristensen,Østergaard,Mikkelsen,Dahl"),
            cities="Aarhus,Odense,Aalborg,Esbjerg,Randers,Kolding,Næstved",
            states="Hovedstaden,Midtjylland,Nordjylland,Sjælland,Syddanmark",
            streets="Strandvejen,Skovvej,Møllegade,Kirkevej,Engvej,Ågade",
        ),
        _locale(
            "ES",
            "Spain",
            male=_latin("Alejandro,José,Iván,Rubén,Andrés,Jesús,Óscar,Íñigo"),
            female=_latin("Lucía,María,Inés,Sofía,Begoña,Ángela,Mónica,Nuria"),
            last=_latin("García,Martínez,Fernández,Pérez,Sánchez,Jiménez,Muñoz,Gómez"),
            cities="Málaga,Córdoba,Cádiz,Logroño,Ávila,Gijón,Alcalá de Henares",
            states="Andalucía,Castilla y León,País Vasco,Galicia,Aragón,Cataluña,Región de Murcia",
            streets="Calle Mayor,Avenida de Andalucía,Calle del Carmen,Paseo de Extremadura,Plaza de España",
        ),
        _locale(
            "FI",
            "Finland",
            male=_latin("Eetu,Väinö,Onni,Juho,Aleksi,Mikko,Ilmari,Topias"),
            female=_latin("Aino,Siiri,Eveliina,Pihla,Helmi,Enni,Veera,Lumi"),
            last=_latin("Virtanen,Mäkinen,Nieminen,Järvinen,Heikkinen,Hämäläinen,Koskinen,Lehtonen"),
            cities="Tampere,Jyväskylä,Hämeenlinna,Pori,Kuopio,Seinäjoki,Rovaniemi",
            states="Uusimaa,Pirkanmaa,Lappi,Pohjois-Savo,Satakunta,Kainuu",
            streets="Hämeenkatu,Koulukatu,Rautatienkatu,Tehtaankatu,Puistokatu,Pispalan Valtatie",
        ),
        _locale(
            "FR",
            "France",
            male=_latin("Théo,Mathéo,Noé,Jérôme,Aurélien,Loïc,Benoît,Gaël,Jean-Luc"),
            female=_latin("Léa,Chloé,Inès,Maëlys,Océane,Héloïse,Zoé,Anaïs,Marie-Ève"),
            last=_latin("Lefèvre,Garnier,Mercier,Rousseau,Bérard,Girard,Lemaître,Faure,D'Angelo"),
            cities="Besançon,Nîmes,Orléans,Saint-Étienne,Angers,Aix-en-Provence,Créteil",
            states="Bretagne,Normandie,Occitanie,Grand Est,Île-de-France,Auvergne-Rhône-Alpes",
            streets="Rue de l'Église,Avenue Jean-Jaurès,Rue Pasteur,Place du Marché,Rue des Écoles",
        ),
        _locale(
            "GB",
            "United Kingdom",
            male=_latin("Oliver,Harry,George,Alfie,Callum,Rhys,Owen,Jamie"),
            female=_latin("Amelia,Freya,Poppy,Evie,Isabelle,Megan,Niamh,Holly"),
            last=_latin("Smith,Jones,Davies,Evans,Wright,Walker,Robinson,Clarke"),
            cities="Sheffield,Carlisle,Swansea,Aberdeen,Exeter,Norwich,Derby",
            states="Cumbria,Devon,Lancashire,West Yorkshire,Kent,Gwynedd,Highland",
            streets="High Street,Church Lane,Station Road,Victoria Road,Mill Lane,The Green",
        ),
        _locale(
            "IE",
            "Ireland",
            male=_latin("Seán,Ciarán,Oisín,Pádraig,Cian,Darragh,Eoin,Conor"),
            female=_latin("Aoife,Siobhán,Róisín,Niamh,Caoimhe,Sinéad,Orla,Clodagh"),
            last=_latin("Murphy,O'Brien,Byrne,Walsh,Doyle,O'Connor,Kavanagh,McCarthy"),
            cities="Galway,Kilkenny,Tralee,Dundalk,Ennis,Sligo,Athlone",
            states="Galway,Kerry,Louth,Clare,Sligo,Westmeath,Cork",
            streets="Main Street,Church Street,Bridge Street,Castle Road,Green Lane,Strand Road",
        ),
        _locale(
            "IN",
            "India",
            male=_latin("Aarav,Vihaan,Arjun,Rohan,Ishaan,Kabir,Siddharth,Rahul"),
            female=_latin("Ananya,Diya,Priya,Saanvi,Meera,Kavya,Ishita,Nandini"),
            last=_latin("Sharma,Patel,Reddy,Iyer,Nair,Chatterjee,Gupta,Desai"),
            cities="Pune,Nagpur,Mysuru,Indore,Kochi,Jaipur,Lucknow",
            states="Maharashtra,Karnataka,Kerala,Rajasthan,Uttar Pradesh,Gujarat,Tamil Nadu",
            streets="MG Road,Station Road,Nehru Marg,Gandhi Nagar,Temple Street,Lake View Road",
        ),
        _locale(
            "IR",
            "Iran",
            male=_romanised(
                "محمد=mohammad,علی=ali,رضا=reza,حسین=hossein,امیر=amir,مهدی=mahdi,آرش=arash,کیان=kian"
            ),
            female=_romanised(
                "فاطمه=fatemeh,زهرا=zahra,مریم=maryam,نرگس=narges,سارا=sara,پریا=pariya,"
                "یاسمن=yasaman,نیلوفر=niloofar"
            ),
            last=_romanised(
                "محمدی=mohammadi,احمدی=ahmadi,رضایی=rezaei,کریمی=karimi,حسینی=hosseini,"
                "موسوی=mousavi,جعفری=jafari,صادقی=sadeghi"
            ),
            cities="تهران,اصفهان,شیراز,تبریز,مشهد,کرج,رشت",
            states="تهران,فارس,گیلان,خراسان رضوی,آذربایجان شرقی,اصفهان",
            streets="میدان آزادی,ولیعصر,شهید بهشتی,پارک دانشجو,کارگر,انقلاب",
        ),
        _locale(
            "MX",
            "Mexico",
            male=_latin("Santiago,Mateo,José Luis,Emiliano,Diego,Juan Pablo,Rodrigo,Leonardo"),
            female=_latin("Ximena,Valentina,María José,Camila,Regina,Fernanda,Guadalupe,Renata"),
            last=_latin("Hernández,López,Ramírez,De la Cruz,Flores,Mendoza,Guzmán,Ortiz"),
            cities="Guadalajara,Monterrey,Mérida,Querétaro,Oaxaca de Juárez,Tlaquepaque,León",
            states="Jalisco,Nuevo León,Yucatán,Querétaro,Oaxaca,Michoacán,Guanajuato",
            streets="Avenida Juárez,Calle Hidalgo,Calle Morelos,Privada Reforma,Calle 5 de Mayo",
        ),
        _locale(
            "NL",
            "Netherlands",
            male=_latin("Daan,Sem,Bram,Thijs,Joël,Sven,Ruud,Willem"),
            female=_latin("Sanne,Fleur,Lotte,Noëlle,Femke,Anouk,Eline,Iris"),
            last=_latin("de Jong,Jansen,van Dijk,Bakker,Visser,van den Berg,Smit,Meijer"),
            cities="Zwolle,Amersfoort,'s-Hertogenbosch,Leeuwarden,Haarlem,Venlo,Groningen",
            states="Friesland,Gelderland,Noord-Brabant,Zeeland,Overijssel,Utrecht,Limburg",
            streets="Dorpsstraat,Kerkstraat,Molenweg,Stationsplein,Julianalaan,Prinsengracht",
        ),
        _locale(
            "NO",
            "Norway",
            male=_latin("Håkon,Sindre,Ørjan,Magnus,Eirik,Jonas,Kåre,Torbjørn"),
            female=_latin("Ingrid,Solveig,Marte,Åshild,Synnøve,Kari,Tuva,Hedda"),
            last=_latin("Hansen,Johansen,Olsen,Berg,Haugen,Sæther,Lie,Bråthen"),
            cities="Trondheim,Tromsø,Bodø,Drammen,Ålesund,Lillehammer,Kristiansand",
            states="Trøndelag,Nordland,Vestland,Innlandet,Agder,Rogaland,Viken",
            streets="Storgata,Kirkeveien,Skolegata,Fjordveien,Sjøgata,Bakkeveien",
        ),
        _locale(
            "NZ",
            "New Zealand",
            male=_latin("Jack,Lucas,Nikau,Tama,Hunter,Mason,Wiremu,Ryan"),
            female=_latin("Isla,Aroha,Ruby,Mia,Anahera,Grace,Kaia,Zoe"),
            last=_latin("Williams,Brown,Ngata,Wilson,Parata,Thompson,Campbell,Tawhiri"),
            cities="Tauranga,Whanganui,Napier,Invercargill,Rotorua,Nelson,Palmerston North",
            states="Bay of Plenty,Waikato,Otago,Canterbury,Hawke's Bay,Northland,Taranaki",
            streets="Kowhai Street,Rata Road,Tui Street,Marine Parade,Queen Street,Pohutukawa Drive",
        ),
        _locale(
            "RS",
            "Serbia",
            male=_latin("Đorđe,Miloš,Nikola,Stefan,Dušan,Vuk,Lazar,Uroš"),
            female=_latin("Jelena,Milica,Ana,Teodora,Dragana,Ivana,Snežana,Katarina"),
            last=_latin("Jovanović,Petrović,Nikolić,Marković,Đorđević,Stojanović,Ilić,Živković"),
            cities="Novi Sad,Niš,Kragujevac,Subotica,Čačak,Zrenjanin,Šabac",
            states="Vojvodina,Šumadija,Zlatibor,Raška,Mačva,Nišava",
            streets="Kneza Miloša,Bulevar oslobođenja,Cara Dušana,Njegoševa,Vojvode Mišića,Svetog Save",
        ),
        _locale(
            "TR",
            "Turkey",
            male=_latin("Mehmet,Emir,Çağan,Yiğit,Barış,Oğuz,Kerem,İsmail"),
            female=_latin("Elif,Zeynep,Şule,Gülşen,Ayşe,Büşra,Nazlı,Özlem"),
            last=_latin("Yılmaz,Öztürk,Çelik,Şahin,Aydın,Kılıç,Doğan,Erdem"),
            cities="İzmir,Eskişehir,Şanlıurfa,Muğla,Kayseri,Çanakkale,Trabzon",
            states="Aydın,Bolu,Kütahya,Sivas,Tekirdağ,Hatay",
            streets="Atatürk Cd,Cumhuriyet Cd,Bağdat Cd,İstiklal Cd,Kuşkavağı Sk,Fatih Sultan Mehmet Cd",
        ),
        _locale(
            "UA",
            "Ukraine",
            male=_transliterated("oleksandr,dmytro,taras,bohdan,andriy,yaroslav,ostap,vasyl"),
            female=_transliterated("olena,oksana,hanna,mariya,iryna,solomiya,daryna,khrystyna"),
            last=_transliterated(
                "shevchenko,kovalenko,bondarenko,tkachenko,melnyk,kravchuk,polishchuk,gonta"
            ),
            cities="Львів,Харків,Одеса,Полтава,Чернігів,Ужгород,Вінниця",
            states="Львівська,Харківська,Одеська,Полтавська,Чернігівська,Закарпатська,Вінницька",
            streets="Шевченка,Грушевського,Франка,Хрещатик,Личаківська,Садова",
        ),
        _locale(
            "US",
            "United States",
            male=_latin("James,Michael,Tyler,Dwayne,Brandon,Carlos,Wyatt,Marcus"),
            female=_latin("Jennifer,Ashley,Brittany,Tiffany,Keisha,Madison,Kayla,Shannon"),
            last=_latin("Johnson,Williams,Miller,Davis,Garcia,Rodriguez,Anderson,Thompson"),
            cities="Boise,Tulsa,Spokane,Albuquerque,Fresno,Savannah,Duluth",
            states="Idaho,Oklahoma,Washington,New Mexico,California,Georgia,Minnesota",
            streets="Oak St,Maple Ave,Washington Blvd,Elm Rd,Sunset Blvd,Lakeview Dr,Pine Ridge Rd",
        ),
    )
}

CODES: tuple[str, ...] = tuple(sorted(LOCALES))

# Shared by every nationality, as in the live API (so a person's time zone says nothing
# about their country).
TIMEZONES: tuple[tuple[str, str], ...] = (
    ("-12:00", "Eniwetok, Kwajalein"),
    ("-11:00", "Midway Island, Samoa"),
    ("-10:00", "Hawaii"),
    ("-9:00", "Alaska"),
    ("-8:00", "Pacific Time (US & Canada)"),
    ("-7:00", "Mountain Time (US & Canada)"),
    ("-6:00", "Central Time (US & Canada), Mexico City"),
    ("-5:00", "Eastern Time (US & Canada), Bogota, Lima"),
    ("-4:00", "Atlantic Time (Canada), Caracas, La Paz"),
    ("-3:30", "Newfoundland"),
    ("-3:00", "Brasilia, Buenos Aires, Montevideo"),
    ("-2:00", "Mid-Atlantic"),
    ("-1:00", "Azores, Cape Verde"),
    ("0:00", "London, Lisbon, Dublin, Reykjavik"),
    ("+1:00", "Paris, Madrid, Berlin, Copenhagen"),
    ("+2:00", "Helsinki, Kyiv, Athens, Cairo"),
    ("+3:00", "Istanbul, Moscow, Nairobi"),
    ("+3:30", "Tehran"),
    ("+4:00", "Dubai, Baku, Tbilisi"),
    ("+4:30", "Kabul"),
    ("+5:00", "Karachi, Tashkent"),
    ("+5:30", "Mumbai, New Delhi, Colombo"),
    ("+5:45", "Kathmandu"),
    ("+7:00", "Bangkok, Hanoi, Jakarta"),
    ("+8:00", "Perth, Singapore, Hong Kong"),
    ("+9:00", "Tokyo, Seoul"),
    ("+9:30", "Adelaide, Darwin"),
    ("+10:00", "Brisbane, Sydney, Guam"),
    ("+11:00", "Magadan, Solomon Islands, New Caledonia"),
    ("+12:00", "Auckland, Wellington, Fiji"),
)

FEMALE_TITLES: tuple[str, ...] = ("Ms", "Mrs", "Miss")
FRENCH_FEMALE_TITLES: tuple[str, ...] = ("Madame", "Mademoiselle")

# Common, weak passwords: the live API hands out exactly this kind, which is why the
# pipeline must never store them.
PASSWORDS: tuple[str, ...] = _words(
    "sunshine,letmein,dragon1,monkey,football,shadow,qwerty12,baseball,master,hunter2,"
    "trustno1,iloveyou,welcome,princess,starwars,cheese,pepper,ginger,mustang,summer,"
    "orange,banana,charlie,freedom,hello123,whatever,flower,cookie,tigger,batman"
)

USERNAME_ADJECTIVES: tuple[str, ...] = _words(
    "yellow,purple,silver,lazy,happy,angry,tiny,brave,crazy,sad,heavy,golden,smooth,quiet,wild,orange"
)
USERNAME_ANIMALS: tuple[str, ...] = _words(
    "peacock,zebra,koala,tiger,panda,rabbit,goose,beaver,lion,wolf,frog,swan,bear,elephant,fish,bird"
)
