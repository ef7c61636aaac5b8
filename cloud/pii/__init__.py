"""Personal data at rest (DESIGN.md, "Personal data"): envelope encryption of personal
fields with master keys kept outside the database, a blind index for the fields that
must be searchable, and audited reads. See cloud/pii/README.md."""

from cloud.pii.blind import blind_index, blind_indexes
from cloud.pii.envelope import PiiError, key_id_of, open_field, rewrap, seal
from cloud.pii.keys import DEMO_KEY_ID, Keyring, PiiKeyError, keyring_for
from cloud.pii.reveal import reveal

__all__ = [
    "DEMO_KEY_ID",
    "Keyring",
    "PiiError",
    "PiiKeyError",
    "blind_index",
    "blind_indexes",
    "key_id_of",
    "keyring_for",
    "open_field",
    "reveal",
    "rewrap",
    "seal",
]
