"""Every vector of schemas/test-vectors/events.json: the reason code of each invalid event, the
canonical form and payload hash of each valid one, as the C++ validator computed them."""

import os
import pathlib
import unittest

import usage_ledger as ul

_DEFAULT = pathlib.Path(__file__).resolve().parents[3] / "schemas" / "test-vectors" / "events.json"
VECTORS = pathlib.Path(os.environ.get("UL_TEST_VECTORS", _DEFAULT))


def load():
    with open(VECTORS, encoding="utf-8") as file:
        return ul.loads_event(file.read())


class TestVectors(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.vectors = load()
        cls.options = {
            "now": cls.vectors["now"],
            "max_event_age": cls.vectors["max_event_age"],
            "max_future": cls.vectors["max_future"],
        }

    def test_format(self):
        self.assertEqual(self.vectors["format"], "1")  # numbers load as JsonNumber tokens
        self.assertGreater(len(self.vectors["valid"]), 0)
        self.assertGreater(len(self.vectors["invalid"]), 0)

    def test_every_reason_code_has_a_vector(self):
        reasons = {vector["reason"] for vector in self.vectors["invalid"]}
        self.assertTrue(reasons <= set(ul.REASONS), reasons - set(ul.REASONS))
        self.assertGreaterEqual(len(reasons), 11)

    def test_valid(self):
        for vector in self.vectors["valid"]:
            with self.subTest(vector["name"]):
                self.assertIsNone(ul.check(vector["event"], **self.options))
                self.assertEqual(
                    ul.canonical_event(vector["event"], **self.options), vector["canonical"]
                )

    @unittest.skipUnless(ul.HAVE_XXHASH, "no xxhash module (apt install python3-xxhash)")
    def test_payload_hash(self):
        for vector in self.vectors["valid"]:
            with self.subTest(vector["name"]):
                self.assertEqual(
                    ul.payload_hash(vector["event"], **self.options), vector["payload_hash"]
                )
                self.assertEqual(ul.payload_hash(vector["canonical"]), vector["payload_hash"])

    def test_canonical_is_a_valid_event_with_the_same_canonical_form(self):
        for vector in self.vectors["valid"]:
            with self.subTest(vector["name"]):
                again = ul.loads_event(vector["canonical"])
                self.assertEqual(ul.canonical_event(again, **self.options), vector["canonical"])

    def test_invalid(self):
        for vector in self.vectors["invalid"]:
            with self.subTest(vector["name"]):
                self.assertEqual(ul.validate(vector["event"], **self.options), vector["reason"])
                with self.assertRaises(ul.InvalidEvent) as raised:
                    ul.canonical_event(vector["event"], **self.options)
                self.assertEqual(raised.exception.reason, vector["reason"])


if __name__ == "__main__":
    unittest.main()
