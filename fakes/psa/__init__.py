"""Faithful fakes of the three PSAs' REST APIs (ConnectWise, Autotask, HaloPSA), served over real HTTP.

Each checks credentials as the real one does, answers in its shapes (picklists, reference objects), records the
notes it receives so a test can assert "exactly one note, with these flags", and fails on demand
(`fail(path, status, retry_after=…)`, `delay(path, seconds)`). `base` holds what they share.
"""

from fakes.psa.autotask import FakeAutotask
from fakes.psa.base import FakePsa, Recorded, SeedTicket
from fakes.psa.connectwise import FakeConnectWise
from fakes.psa.halopsa import FakeHaloPsa

__all__ = ["FakeAutotask", "FakeConnectWise", "FakeHaloPsa", "FakePsa", "Recorded", "SeedTicket"]
