"""A subject's description (sex, date of birth, species, strain), as IBL's Alyx keeps it.

The ``Subject`` table (:mod:`schemas.session`) holds one row per subject nickname; the
acquisition script and ``ibl-video session insert`` fill it from a JSON file, and the NWB
export writes it as NWB's ``Subject``. The file is either Alyx's own subject record
(``GET /subjects/<nickname>``: ``nickname``, ``sex``, ``birth_date``, ``species``,
``strain``; other keys such as ``lab`` or ``line`` are ignored) or the same with this
project's names (``subject``, ``sex``, ``date_of_birth``, ``species``, ``strain``)::

    {"nickname": "KS023", "sex": "F", "birth_date": "2024-10-01",
     "species": "Mus musculus", "strain": "C57BL/6J"}

Values: ``sex`` ``M``, ``F`` or ``U`` (unknown; Alyx's choices); ``date_of_birth`` ISO
``YYYY-MM-DD`` or null (unknown); ``species`` a Latin binomial (``Mus musculus``, the
default) or an NCBI taxonomy IRI, as NWB asks; ``strain`` free text, null or empty when
unknown.

Nothing here imports DataJoint.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_SPECIES",
    "SEXES",
    "SUBJECT_FIELDS",
    "normalize_subject",
    "read_subject_file",
]

#: The subject attributes besides its nickname.
SUBJECT_FIELDS: tuple[str, ...] = ("sex", "date_of_birth", "species", "strain")
#: Alyx's sexes: male, female, unknown.
SEXES: tuple[str, ...] = ("M", "F", "U")
DEFAULT_SPECIES = "Mus musculus"
#: Alyx's key -> ours.
_ALYX_KEYS = {"nickname": "subject", "birth_date": "date_of_birth"}
#: Latin binomial or NCBI taxonomy IRI (nwbinspector's ``check_subject_species_form``).
_SPECIES_RE = re.compile(r"[A-Z][a-z]+ [a-z]+.*|https?://purl\.obolibrary\.org/obo/NCBITaxon_\d+")


def normalize_subject(info: Mapping[str, Any], where: str = "subject") -> dict[str, Any]:
    """Check a subject description and give it this project's keys and types.

    Parameters
    ----------
    info : mapping
        Keys as Alyx's (``nickname``, ``birth_date``) or ours (``subject``,
        ``date_of_birth``), plus ``sex``, ``species``, ``strain``; missing ones are unknown.
        Other keys are ignored.
    where : str
        What ``info`` came from, for messages (e.g. the file).

    Returns
    -------
    dict
        ``sex`` (``"U"`` when missing), ``date_of_birth`` (datetime.date or None),
        ``species`` (default :data:`DEFAULT_SPECIES`), ``strain`` (``""`` when unknown), and
        ``subject`` when the nickname was given.

    Raises
    ------
    ValueError
        A bad sex, date or species, or both spellings of one key, naming ``where`` and the key.
    """
    if not isinstance(info, Mapping):
        raise ValueError(f"{where}: a subject must be a JSON object, got {type(info).__name__}")
    data: dict[str, Any] = {}
    for key, value in info.items():
        ours = _ALYX_KEYS.get(key, key)
        if ours in data and ours != key:
            raise ValueError(f"{where}: gives both {key!r} and {ours!r}")
        if ours in ("subject", *SUBJECT_FIELDS):
            data[ours] = value
    out: dict[str, Any] = {}
    if data.get("subject") is not None:
        out["subject"] = str(data["subject"])
    sex = data.get("sex") or "U"
    if sex not in SEXES:
        raise ValueError(
            f"{where}: sex must be one of {', '.join(SEXES)} (U: unknown), got {sex!r}"
        )
    out["sex"] = sex
    dob = data.get("date_of_birth")
    if dob in (None, ""):
        out["date_of_birth"] = None
    elif isinstance(dob, dt.datetime):
        out["date_of_birth"] = dob.date()
    elif isinstance(dob, dt.date):
        out["date_of_birth"] = dob
    else:
        try:
            out["date_of_birth"] = dt.date.fromisoformat(str(dob))
        except ValueError:
            raise ValueError(f"{where}: date_of_birth must be YYYY-MM-DD, got {dob!r}") from None
    species = data.get("species") or DEFAULT_SPECIES
    if not isinstance(species, str) or not _SPECIES_RE.fullmatch(species):
        raise ValueError(
            f"{where}: species must be a Latin binomial (e.g. 'Mus musculus') or an NCBI taxonomy "
            f"IRI, got {species!r}"
        )
    out["species"] = species
    strain = data.get("strain")
    out["strain"] = "" if strain is None else str(strain)
    return out


def read_subject_file(path: Path | str) -> dict[str, Any]:
    """Read a subject's JSON file (Alyx's record or ours, see the module docstring).

    Returns
    -------
    dict
        As :func:`normalize_subject`.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If it is not JSON or a value is bad (naming the file and the key).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"subject file not found: {path}")
    try:
        info = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"subject file {path} is not valid JSON: {err}") from None
    return normalize_subject(info, str(path))
