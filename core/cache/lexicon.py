"""Word lists the hard-negative guard reads: generic English, not tuned to test sentences.

Each table is a *category* of meaning-changing difference - opposed terms, sets of
mutually exclusive alternatives, units, currencies, number words, negation cues and
question forms. Words are written in their base form; :mod:`core.cache.features`
stems both the lists and the prompts the same way before comparing.
"""

from __future__ import annotations

__all__ = [
    "AMBIGUOUS_UNITS",
    "AUXILIARIES",
    "CONTRAST_SETS",
    "CURRENCY_SYMBOLS",
    "FILLERS",
    "MONTHS",
    "NEGATION",
    "NUMBER_WORDS",
    "OPPOSED",
    "OPPOSING_PREFIXES",
    "QUANTITY_NOUNS",
    "SCALE_WORDS",
    "STOPWORDS",
    "UNITS",
    "WEEKDAYS",
    "words",
]


def words(spec: str) -> frozenset[str]:
    """A set from space-separated words."""
    return frozenset(spec.split())


def _table(spec: str) -> dict[str, str]:
    """``"km: km kms kilometer; mi: mile"`` -> alias -> canonical name."""
    out: dict[str, str] = {}
    for group in spec.split(";"):
        if not group.strip():
            continue
        canon, _, aliases = group.partition(":")
        for alias in [canon, *aliases.split()]:
            out[alias.strip().lower()] = canon.strip()
    return out


STOPWORDS = words("""a an the and or but if so of at by for with about as in on to into onto from up down
    over under again then once here there all any both each few more most other some such
    only own same too very can will just should would could may might must shall do does did
    done doing have has had having be is are was were been being am i me my mine myself we
    us our you your yours he him his she her it its they them their this that these those
    what which who whom whose when where why how please thanks thank hi hello hey ok okay
    tell give show explain help want need like know get got make let also really quick
    question way ways something anything someone thing things one ones""")

# Politeness and framing that may open a prompt without changing what it asks.
FILLERS = words("hi hello hey so ok okay please quick question thanks thank well um hmm yo dear")

AUXILIARIES = words(
    "is are was were do does did can could should would will has have had am may might must shall"
)

NEGATION: dict[str, str] = {
    **dict.fromkeys(
        words("not no never none nobody nothing neither nor nowhere non cannot"), "not"
    ),
    **dict.fromkeys(words("without lacking"), "without"),
    **dict.fromkeys(words("except excluding excluded unless besides"), "except"),
}

# "What is the <noun> of ..." asks the same as "How <adjective> ...".
QUANTITY_NOUNS: dict[str, str] = {
    "number": "how many/much",
    "count": "how many/much",
    "amount": "how many/much",
    "cost": "how many/much",
    "price": "how many/much",
    "distance": "how far",
    "age": "how old",
    "duration": "how long",
    "height": "how big",
    "size": "how big",
    "weight": "how big",
    "reason": "why",
    "purpose": "why",
    "location": "where",
}

SCALE_WORDS = words("big large tall high heavy deep wide small")

NUMBER_WORDS: dict[str, int] = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
    "dozen": 12,
}
# Multipliers inside a written number ("two hundred", "3 million").
NUMBER_SCALES: dict[str, int] = {
    "hundred": 100,
    "thousand": 1000,
    "million": 1_000_000,
    "billion": 1_000_000_000,
    "trillion": 1_000_000_000_000,
}
__all__ += ["NUMBER_SCALES"]

MONTHS = _table(
    "1: january jan; 2: february feb; 3: march; 4: april apr; 5: may; 6: june jun;"
    "7: july jul; 8: august aug; 9: september sep sept; 10: october oct;"
    "11: november nov; 12: december dec"
)
WEEKDAYS = _table(
    "mon: monday; tue: tuesday tues; wed: wednesday; thu: thursday thurs; fri: friday;"
    "sat: saturday; sun: sunday"
)

# Always a unit wherever they stand.
UNITS = _table(
    "km: kms kilometer kilometre; m: meter metre; cm: centimeter centimetre;"
    "mm: millimeter millimetre; mile: mi; ft: foot feet; inch: inches; yard: yd yds;"
    "kg: kgs kilogram kilo; g: gram gramme; mg: milligram; lb: lbs pound; oz: ounce;"
    "ton: tonne; l: liter litre; ml: milliliter millilitre; gal: gallon; quart: qt;"
    "pint: pt; cup; tbsp: tablespoon tbs; tsp: teaspoon;"
    "celsius: centigrade degc; fahrenheit: degf; kelvin;"
    "sec: seconds secs; minute: minutes; hour: hours hr hrs hourly; day: days daily;"
    "week: weeks weekly; month: months monthly; year: years yr yrs yearly annual annually;"
    "decade; century: centuries; byte: bytes; kb: kilobyte; mb: megabyte; gb: gigabyte;"
    "tb: terabyte; bit: bits; mph; kph: kmh; kcal: calorie cal; watt: watts; kw: kilowatt;"
    "kwh; volt: volts; amp: amps ampere; percent: pct percentage;"
    "usd: dollar dollars buck bucks; eur: euro euros; gbp: sterling; jpy: yen;"
    "inr: rupee rupees; cny: yuan renminbi rmb; chf: franc francs; cad; aud; mxn: peso pesos;"
    "btc: bitcoin bitcoins; eth: ether"
)
# Units only right after a number ("5 min", "10 s"); elsewhere ordinary words.
AMBIGUOUS_UNITS = _table(
    "sec: s second; minute: min mins; hour: h; m; g; l; inch: in; am; pm; k: thousand"
)
CURRENCY_SYMBOLS = {"$": "usd", "€": "eur", "£": "gbp", "¥": "jpy", "₹": "inr", "%": "percent"}

# Pairs of opposed terms: one side in each prompt (and not the other) changes the answer.
_OPPOSED_SPEC = """
open opens | close shut
start begin launch | stop end finish halt
add insert append include attach | remove delete drop exclude detach
create make build | destroy delete
install | uninstall remove
enable activate turn_on switch_on | disable deactivate turn_off switch_off
allow permit accept approve | deny block reject refuse forbid
show display reveal unhide | hide conceal
expand maximize | collapse minimize
import | export
upload | download
input | output
read | write
send transmit | receive
push | pull
encrypt | decrypt
encode | decode
compress zip | decompress unzip extract
serialize | deserialize
lock | unlock
connect | disconnect
mount | unmount
increase raise grow boost | decrease reduce lower shrink cut
gain | loss lose
win | lose
profit | loss
buy purchase | sell
lend | borrow
deposit | withdraw withdrawal
income revenue | expense expenditure
credit | debit
asset | liability
bull bullish | bear bearish
save | spend
max maximum highest largest biggest most | min minimum lowest smallest least
more greater larger bigger higher | less fewer smaller lower
first earliest oldest | last latest newest
next following | previous prior preceding
before | after
past | future
yesterday | tomorrow
ascending asc | descending desc
above | below
over | under
top | bottom
front | back
inside inner internal | outside outer external
public | private
local | remote
client | server
frontend | backend
synchronous sync | asynchronous async
static | dynamic
mutable | immutable
horizontal horizontally | vertical vertically
row rows | column columns
width | height
uppercase caps | lowercase
singular | plural
prefix | suffix
head | tail
left | right
north | south
east | west
hot warm heat | cold cool chill
summer | winter
spring | autumn fall
day | night
dark | light bright
morning | evening
am | pm
sunrise | sunset
male man men boy husband father son brother | female woman women girl wife mother daughter sister
adult adults grownup | child children kid kids baby infant toddler
beginner novice basic | advanced expert premium pro
free | paid premium
easy simple | hard difficult complex
cheap inexpensive cheapest | expensive costly pricey
fast quick quickly rapid faster fastest quicker quickest | slow slowly slower slowest
early earlier | late later
old older | new newer young younger
ancient | modern
big large | small little tiny
long longer longest | short shorter shortest
tall | short
heavy | light
thick | thin
wide broad | narrow
deep | shallow
strong | weak
rich wealthy | poor
wet moist | dry
raw | cooked
sweet | savory savoury
positive | negative
true | false
yes | no
pros pro advantage advantages benefit benefits | cons con disadvantage disadvantages drawback drawbacks risk risks
good best better | bad worst worse
success succeed | failure fail
love | hate
safe | dangerous unsafe
healthy | unhealthy
legal | illegal
always | never
all everything everyone | none nothing nobody
many | few
odd | even
plus add sum | minus subtract
multiply | divide quotient
absolute | relative
zoom_in | zoom_out
log_in login sign_in signin | log_out logout sign_out signout
check_in | check_out
opt_in | opt_out
scale_up | scale_down
inhale | exhale
import | export
hire | fire
accept | decline
agree | disagree
arrive arrival | depart departure leave
entry enter | exit
inbound | outbound
lend | repay
"""
OPPOSED: tuple[tuple[frozenset[str], frozenset[str]], ...] = tuple(
    (frozenset(left.split()), frozenset(right.split()))
    for left, _, right in (line.partition("|") for line in _OPPOSED_SPEC.strip().splitlines())
)

# Mutually exclusive alternatives; aliases of one member are joined with "=".
_CONTRAST_SPEC = """
python py | javascript js node nodejs | typescript ts | java | kotlin | swift | ruby | php | rust | golang | csharp | cpp | scala | haskell | perl | lua | dart | elixir | bash shell | powershell | sql | matlab
json | yaml yml | xml | csv | toml | html | markdown md | pdf | docx | xlsx excel
list | tuple | dict dictionary hashmap | array | string str | integer int | float double | boolean bool | dataframe | queue | stack
windows | macos mac osx | linux | ubuntu | debian | fedora | android | ios | iphone | ipad
chrome | firefox | safari
mysql | postgresql postgres | sqlite | mongodb mongo | redis | oracle | cassandra | dynamodb
aws | azure | gcp
react | vue | angular | svelte | django | flask | fastapi | rails | laravel
breakfast | lunch | dinner | brunch
red | orange | yellow | green | blue | purple | pink | black | white | brown | grey gray
mercury | venus | earth | mars | jupiter | saturn | uranus | neptune | pluto
"""
CONTRAST_SETS: tuple[dict[str, str], ...] = tuple(
    {alias: member.split()[0] for member in line.split("|") for alias in member.split()}
    for line in _CONTRAST_SPEC.strip().splitlines()
)

# "install"/"uninstall", "connect"/"disconnect": a prefix that negates the stem.
OPPOSING_PREFIXES = ("un", "in", "im", "il", "ir", "dis", "non", "de", "anti", "mis")
