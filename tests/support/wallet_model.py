#!/usr/bin/env python3
"""An independent model of a tenant's credits wallet (schemas/wallet.h), for tests/e2e/credits.sh.

    wallet_model.py anchor ZONE          prints "D B": a billing anchor day D (1..28) whose local
                                         midnight B (UTC, RFC 3339) was 2..25 days ago in ZONE
    wallet_model.py shift B SECONDS      prints B + SECONDS (RFC 3339, microseconds, Z)
    wallet_model.py check PLANS PLAN B OPS CREDITS
                                         replays OPS (lines "burn TIME METER QTY", "grant ID AMOUNT
                                         PRIORITY EXPIRES|- TIME", "burn-now METER QTY") with the
                                         documented rules and compares GET …/credits (CREDITS):
                                         balance, grants and every transaction; exit 1 on a
                                         difference, naming it.
Written from the rules in README.md and schemas/wallet.h, not from the C++ code. Months: before B
is last month, from B on this month (the test's events are within these two).
"""
import datetime
import json
import sys
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

MICRO = Decimal("0.000001")
INF = datetime.datetime.max.replace(tzinfo=datetime.timezone.utc)


def parse_time(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


def fmt_time(moment):
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def anchor(zone_name):
    zone = ZoneInfo(zone_name)
    now = datetime.datetime.now(zone)
    for days in range(2, 26):
        day = (now - datetime.timedelta(days=days)).date()
        if day.day <= 28:
            start = datetime.datetime(day.year, day.month, day.day, tzinfo=zone)
            print(day.day, fmt_time(start))
            return
    sys.exit("no anchor day found")


def text(amount):
    """Canonical decimal text as the API writes it: no exponent, no trailing zeros."""
    value = format(amount.quantize(MICRO), "f").rstrip("0").rstrip(".")
    return "0" if value in ("", "-0") else value


class Wallet:
    def __init__(self, monthly, cap, month_start):
        self.grants = []  # dicts: id, priority, granted, expires, amount, remaining, allowance
        self.month = None  # the allowance's month: "last" or "this"
        self.monthly, self.cap, self.month_start = monthly, cap, month_start

    def month_of(self, moment):
        return "this" if moment >= self.month_start else "last"

    def apply(self, moment, grant=None, cost=None, hard=False):
        change = dict(allowance=Decimal(0), carried_over=Decimal(0), expired=Decimal(0),
                      burned=[], uncovered=Decimal(0))
        month = self.month_of(moment)
        if self.monthly > 0 and (self.month is None or (self.month == "last" and month == "this")):
            left = sum((g["remaining"] for g in self.grants
                        if g["allowance"] and month == "this" and g["expires"] == self.month_start),
                       Decimal(0))
            change["carried_over"] = min(left, self.cap)
            self.grants = [g for g in self.grants if not g["allowance"]]
            change["allowance"] = self.monthly + change["carried_over"]
            self.grants.append(dict(id="allowance", priority=0, granted=moment,
                                    expires=self.month_start if month == "last" else INF,
                                    amount=change["allowance"], remaining=change["allowance"],
                                    allowance=True))
            self.month = month
        change["expired"] = sum((g["remaining"] for g in self.grants if g["expires"] <= moment),
                                Decimal(0))
        self.grants = [g for g in self.grants if g["expires"] > moment]
        if grant is not None:
            if grant["expires"] > moment and grant["amount"] > 0:
                self.grants.append(dict(grant, granted=moment, remaining=grant["amount"],
                                        allowance=False))
        elif cost is not None and cost > 0:
            if hard and sum(g["remaining"] for g in self.grants) < cost:
                raise AssertionError("the model refuses a burn the test expects to be accepted")
            owed = cost
            for g in sorted(self.grants, key=lambda g: (g["priority"], g["expires"], g["granted"],
                                                        g["id"])):
                taken = min(owed, g["remaining"])
                if taken == 0:
                    continue
                g["remaining"] -= taken
                owed -= taken
                change["burned"].append((g["id"], taken))
                if owed == 0:
                    break
            change["uncovered"] = owed
            self.grants = [g for g in self.grants if g["allowance"] or g["remaining"] > 0]
        change["balance"] = sum((g["remaining"] for g in self.grants), Decimal(0))
        return change


def check(plans_path, plan_id, month_start, ops_path, credits_path):
    plans = json.load(open(plans_path))
    plan = next(p for p in plans["plans"] if p["id"] == plan_id)
    wallet = Wallet(Decimal(plan.get("monthly_credits", "0")), Decimal(plan.get("rollover_cap", "0")),
                    parse_time(month_start))
    expected_tx = []
    last_time = None
    for line in open(ops_path):
        fields = line.split()
        if fields[0] == "grant":
            grant_id, amount, priority, expires, moment = fields[1:6]
            moment = parse_time(moment)
            grant = dict(id=grant_id, priority=int(priority), amount=Decimal(amount),
                         expires=INF if expires == "-" else parse_time(expires))
            change = wallet.apply(moment, grant=grant)
            expected_tx.append((grant_id, "grant", Decimal(amount), change))
        else:
            if fields[0] == "burn":
                moment, meter, quantity = parse_time(fields[1]), fields[2], fields[3]
            else:  # burn-now: after the last op, at the server's time
                moment, meter, quantity = last_time, fields[1], fields[2]
            rule = plan["meters"][meter]
            cost = (Decimal(quantity) * Decimal(rule["credits_per_unit"])).quantize(
                MICRO, rounding=ROUND_HALF_UP)
            change = wallet.apply(moment, cost=cost, hard=rule.get("enforcement") == "hard")
            expected_tx.append((None, "burn", cost, change))
        last_time = moment
    answer = json.load(open(credits_path))
    problems = []
    balance = sum((g["remaining"] for g in wallet.grants), Decimal(0))
    if answer["balance"] != text(balance):
        problems.append(f"balance {answer['balance']}, model {text(balance)}")
    got = [(g["grant_id"] if not g["allowance"] else "allowance", g["remaining"], g["priority"])
           for g in answer["grants"]]
    want = [(g["id"], text(g["remaining"]), g["priority"]) for g in sorted(
        wallet.grants, key=lambda g: (g["priority"], g["expires"], g["granted"], g["id"]))]
    if got != want:
        problems.append(f"grants {got}, model {want}")
    transactions = list(reversed(answer["transactions"]))  # oldest first
    if len(transactions) != len(expected_tx):
        problems.append(f"{len(transactions)} transactions, model {len(expected_tx)}")
    for got_tx, (grant_id, kind, amount, change) in zip(transactions, expected_tx):
        burned = [("allowance" if gid.startswith("allowance:") else gid, b["amount"])
                  for b in got_tx["burned"] for gid in [b["grant_id"]]]
        want_tx = dict(kind=kind, amount=text(amount), burned=[(g, text(v)) for g, v in change["burned"]],
                       uncovered=text(change["uncovered"]), expired=text(change["expired"]),
                       allowance=text(change["allowance"]), carried_over=text(change["carried_over"]),
                       balance=text(change["balance"]))
        have_tx = dict(kind=got_tx["kind"], amount=got_tx["amount"], burned=burned,
                       uncovered=got_tx["uncovered"], expired=got_tx["expired"],
                       allowance=got_tx["allowance"], carried_over=got_tx["carried_over"],
                       balance=got_tx["balance"])
        if grant_id is not None and got_tx["id"] != grant_id:
            problems.append(f"transaction {got_tx['id']}: expected grant {grant_id}")
        if have_tx != want_tx:
            problems.append(f"transaction {got_tx['id']}: {have_tx}, model {want_tx}")
    if problems:
        print("\n".join(problems), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "anchor":
        anchor(sys.argv[2])
    elif command == "shift":
        print(fmt_time(parse_time(sys.argv[2]) + datetime.timedelta(seconds=float(sys.argv[3]))))
    elif command == "check":
        check(*sys.argv[2:7])
    else:
        sys.exit(__doc__)
