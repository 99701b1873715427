"""Container names and IDs as docker makes them.

Names: docker's ``adjective_surname`` generator (moby pkg/namesgenerator,
frozen upstream since 2022; the word lists below are its data), with its
retry rule (a digit appended from the second attempt on, six attempts, then
the short ID) and its name grammar.  IDs: 64 random hex digits whose 12-digit
short form is never all digits (moby stringid.GenerateRandomID: an all-numeric
short ID breaks its use as a hostname).

No ``random``/``re`` import: ``os.urandom`` and a hand-written check cost
nothing at start-up, and every ``run`` pays this module's imports.
"""

from __future__ import annotations

import os

from pinnace.errors import Conflict, InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

#: The character classes of docker's name pattern ``^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$``, as its error prints them.
VALID_NAME_CHARS = "[a-zA-Z0-9][a-zA-Z0-9_.-]"

#: How many generated names docker tries before falling back to the short ID.
NAME_ATTEMPTS = 6

_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_NAME_CHARS = _ALNUM | frozenset("_.-")

# moby pkg/namesgenerator, in its order (as words in a string: one line per name would be 350 lines).
_LEFT: tuple[str, ...] = tuple(
    """
    admiring adoring affectionate agitated amazing angry awesome beautiful blissful bold boring brave busy
    charming clever cool compassionate competent condescending confident cranky crazy dazzling determined
    distracted dreamy eager ecstatic elastic elated elegant eloquent epic exciting fervent festive
    flamboyant focused friendly frosty funny gallant gifted goofy gracious great happy hardcore heuristic
    hopeful hungry infallible inspiring intelligent interesting jolly jovial keen kind laughing loving lucid
    magical mystifying modest musing naughty nervous nice nifty nostalgic objective optimistic peaceful
    pedantic pensive practical priceless quirky quizzical recursing relaxed reverent romantic sad serene
    sharp silly sleepy stoic strange stupefied suspicious sweet tender thirsty trusting unruffled upbeat
    vibrant vigilant vigorous wizardly wonderful xenodochial youthful zealous zen
""".split()  # noqa: SIM905
)

_RIGHT: tuple[str, ...] = tuple(
    """
    agnesi albattani allen almeida antonelli archimedes ardinghelli aryabhata austin babbage banach banzai
    bardeen bartik bassi beaver bell benz bhabha bhaskara black blackburn blackwell bohr booth borg bose
    bouman boyd brahmagupta brattain brown buck burnell cannon carson cartwright carver cerf chandrasekhar
    chaplygin chatelet chatterjee chaum chebyshev clarke cohen colden cori cray curran curie darwin davinci
    dewdney dhawan diffie dijkstra dirac driscoll dubinsky easley edison einstein elbakyan elgamal elion
    ellis engelbart euclid euler faraday feistel fermat fermi feynman franklin gagarin galileo galois
    ganguly gates gauss germain goldberg goldstine goldwasser golick goodall gould greider grothendieck
    haibt hamilton haslett hawking hellman heisenberg hermann herschel hertz heyrovsky hodgkin hofstadter
    hoover hopper hugle hypatia ishizaka jackson jang jemison jennings jepsen johnson joliot jones kalam
    kapitsa kare keldysh keller kepler khayyam khorana kilby kirch knuth kowalevski lalande lamarr lamport
    leakey leavitt lederberg lehmann lewin lichterman liskov lovelace lumiere mahavira margulis matsumoto
    maxwell mayer mccarthy mcclintock mclaren mclean mcnulty mendel mendeleev meitner meninsky merkle
    mestorf mirzakhani montalcini moore morse murdock moser napier nash neumann newton nightingale nobel
    noether northcutt noyce panini pare pascal pasteur payne perlman pike poincare poitras proskuriakova
    ptolemy raman ramanujan ride ritchie rhodes robinson roentgen rosalind rubin saha sammet sanderson
    satoshi shamir shannon shaw shirley shockley shtern sinoussi snyder solomon spence stonebraker
    sutherland swanson swartz swirles taussig tesla tharp thompson torvalds tu turing varahamihira vaughan
    villani visvesvaraya volhard wescoff wilbur wiles williams williamson wilson wing wozniak wright wu
    yalow yonath zhukovsky
""".split()  # noqa: SIM905
)


def _below(n: int) -> int:
    """A uniform-enough random integer in [0, n) (bias below 1e-7 for these sizes)."""
    return int.from_bytes(os.urandom(4), "little") % n


def random_name(retry: int = 0) -> str:
    """One candidate name; from the second attempt (``retry`` > 0) on, with a digit appended, as docker does."""
    while True:
        name = f"{_LEFT[_below(len(_LEFT))]}_{_RIGHT[_below(len(_RIGHT))]}"
        if name != "boring_wozniak":  # Steve Wozniak is not boring (docker's exception)
            break
    if retry > 0:
        name += str(_below(10))
    return name


def generate(exists: Callable[[str], bool], fallback: str = "") -> str:
    """A generated name ``exists`` says is free: six attempts, then ``fallback[:12]`` (the short ID).

    Raises Conflict when every attempt is taken and there is no fallback.
    """
    for retry in range(NAME_ATTEMPTS):
        name = random_name(retry)
        if not exists(name):
            return name
    if fallback:
        return fallback[:12]
    raise Conflict(f"could not find a free container name in {NAME_ATTEMPTS} attempts")


def validate(name: str) -> str:
    """Check ``name`` against docker's grammar; return it without its leading "/".

    The error quotes the name as given, as docker's does.
    """
    bare = name[1:] if name.startswith("/") else name
    if len(bare) < 2 or bare[0] not in _ALNUM or not _NAME_CHARS.issuperset(bare):
        raise InvalidArgument(f"Invalid container name ({name}), only {VALID_NAME_CHARS} are allowed")
    return bare


def new_id() -> str:
    """64 random hex digits whose short form (first 12) is not all digits."""
    while True:
        container_id = os.urandom(32).hex()
        if not container_id[:12].isdigit():
            return container_id


def short_id(container_id: str) -> str:
    """The 12-digit form docker prints."""
    return container_id[:12]
