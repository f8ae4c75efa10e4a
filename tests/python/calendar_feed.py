#!/usr/bin/env python3
"""The gateway's calendar, read by other people's software.

(Named calendar_feed.py, not calendar.py: a script's folder comes first on Python's path, and a
calendar.py there would stand in for the standard library's `calendar`, which http.cookiejar
imports.)

Starts a real node (the binary named on the command line), publishes over gRPC (stubs from
proto/ alone, signatures from `cryptography`) a call with a deadline and an action window, an
update of it, and another call and its cancel; fetches /calendar.ics after each step and parses
it with Python's `icalendar` (a real RFC 5545 parser), checking

- the content type, CRLF line ends and lines of at most 75 octets,
- that each event's UID stays the same through the update, and SEQUENCE goes 0 -> 1,
- that the cancelled call's event is there with STATUS:CANCELLED,
- the two reminders before the deadline (TRIGGER -P7D and -P1D, ACTION:DISPLAY),
- the link back to the message page, and a conditional GET answered 304.

Prints one line per check and `N passed, M failed`; exits non-zero on any failure.
"""
import datetime
import os
import sys

import icalendar
from tocsin_node import Checks, Node, Org, default_binary, generate_stubs, http_get, now_ms, temp_dir

DAY = 86_400_000


def utc(ms):
    return datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc).replace(microsecond=0)


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else default_binary()
    c = Checks()
    with temp_dir() as tmp:
        stubs = os.path.join(tmp, "stubs")
        os.makedirs(stubs)
        generate_stubs(stubs)
        import grpc
        from tocsin.v1 import message_pb2 as m
        from tocsin.v1 import relay_pb2_grpc as rg
        from tocsin_node import message_id

        node = Node(binary, tmp)
        try:
            channel = node.channel()
            grpc.channel_ready_future(channel).result(timeout=30)
            stub = rg.RelayStub(channel)

            def publish(org, **fields):
                body = m.MessageBody(author=org.public, **fields).SerializeToString()
                stub.Publish(m.SignedMessage(body=body, signature=org.sign(body)), timeout=10)
                return message_id(body)

            def call(headline, t, deadline, window=True):
                infos = [m.Info(language="en", headline=headline,
                                description="Westland dismissed 40 teachers for union activity.",
                                instruction="File observations before the session.")]
                base = m.Alert(status=m.STATUS_ACTUAL, category=m.CATEGORY_DISMISSAL,
                               urgency=m.URGENCY_EXPECTED, severity=m.SEVERITY_MODERATE,
                               certainty=m.CERTAINTY_OBSERVED, info=infos)
                fields = dict(base=base, actions=[m.ACTION_TYPE_ILO_OBSERVATION],
                              target="Ministry of Labour of Westland", deadline=deadline,
                              ilo_conventions=["C087", "C098"])
                if window:
                    fields.update(window_starts_at=t + DAY, window_ends_at=t + 20 * DAY)
                return m.ActionCall(**fields)

            def calendar():
                status, headers, raw = http_get(node.http + "/calendar.ics")
                return status, headers, raw, icalendar.Calendar.from_ical(raw)

            def events(cal):
                return {str(e.get("UID")): e for e in cal.walk("VEVENT")}

            teachers, dockers = Org(), Org()
            t = now_ms() - 60_000
            deadline = t + 21 * DAY
            common = dict(expires_at=t + 30 * DAY, topics=["ilo"], countries=["GE"])
            c_id = publish(teachers, created_at=t, **common,
                           call=call("File observations with the CEACR on Westland", t, deadline))
            d_id = publish(dockers, created_at=t + 1000, **common,
                           call=call("Picket the Westland embassy", t, t + 2 * DAY, window=False))

            status, headers, raw, cal = calendar()
            c.check("/calendar.ics answers 200 as text/calendar; charset=utf-8",
                    status == 200 and headers.get("Content-Type") == "text/calendar; charset=utf-8",
                    f"{status} {headers.get('Content-Type')}")
            lines = raw.split(b"\r\n")
            c.check("every line ends in CRLF and is at most 75 octets",
                    raw.endswith(b"\r\n") and b"\n" not in raw.replace(b"\r\n", b"")
                    and all(len(line) <= 75 for line in lines),
                    max(len(line) for line in lines))
            c.check("the calendar is VERSION 2.0 with a PRODID",
                    str(cal.get("VERSION")) == "2.0" and "Tocsin" in str(cal.get("PRODID")))
            before = events(cal)
            deadline_uid, window_uid = f"{c_id}-deadline@tocsin", f"{c_id}-window@tocsin"
            c.check("one event per deadline and one per action window, by the original's id",
                    sorted(before) == sorted([deadline_uid, window_uid, f"{d_id}-deadline@tocsin"]),
                    sorted(before))
            ev = before.get(deadline_uid)
            if ev is not None:
                c.check("the deadline event starts at the deadline",
                        ev.decoded("DTSTART") == utc(deadline), ev.decoded("DTSTART"))
                c.check("its SEQUENCE is 0 and its STATUS CONFIRMED",
                        int(ev.get("SEQUENCE")) == 0 and str(ev.get("STATUS")) == "CONFIRMED")
                c.check("its SUMMARY is the headline",
                        str(ev.get("SUMMARY")) == "Deadline: File observations with the CEACR on Westland",
                        ev.get("SUMMARY"))
                c.check("its DESCRIPTION says what to do, to whom, under which conventions",
                        all(s in str(ev.get("DESCRIPTION")) for s in
                            ("File observations before the session.",
                             "Ministry of Labour of Westland",
                             "C087 — Freedom of Association and Protection of the Right to "
                             "Organise Convention, 1948; C098 —")),
                        ev.get("DESCRIPTION"))
                c.check("its URL leads back to the message page",
                        str(ev.get("URL")) == f"{node.http}/m/{c_id}", ev.get("URL"))
                alarms = ev.walk("VALARM")
                triggers = sorted(a.decoded("TRIGGER") for a in alarms)
                c.check("two reminders, a week and a day before (TRIGGER -P7D, -P1D)",
                        triggers == [datetime.timedelta(days=-7), datetime.timedelta(days=-1)],
                        triggers)
                c.check("both reminders are ACTION:DISPLAY with a description",
                        all(str(a.get("ACTION")) == "DISPLAY" and a.get("DESCRIPTION") for a in alarms))
                c.check("the raw triggers are written -P7D and -P1D",
                        b"TRIGGER:-P7D\r\n" in raw and b"TRIGGER:-P1D\r\n" in raw)
            win = before.get(window_uid)
            if win is not None:
                c.check("the window event runs from the window's start to its end",
                        win.decoded("DTSTART") == utc(t + DAY) and win.decoded("DTEND") == utc(t + 20 * DAY))
            etag = headers.get("ETag")
            status, _, _ = http_get(node.http + "/calendar.ics", {"If-None-Match": etag})
            c.check("a conditional GET with its ETag is answered 304", status == 304, status)

            # An update of the first call, and the second call cancelled.
            publish(teachers, created_at=t + 2000, **common,
                    update=m.Update(supersedes=bytes.fromhex(c_id),
                                    call=call("Observations due: two unions still to file", t, deadline)))
            publish(dockers, created_at=t + 3000, expires_at=t + 30 * DAY,
                    cancel=m.Cancel(target=bytes.fromhex(d_id), reason="Moved to a safer date"))
            status, headers, raw, cal = calendar()
            after = events(cal)
            ev = after.get(deadline_uid)
            c.check("the updated call keeps its events' UIDs",
                    ev is not None and window_uid in after, sorted(after))
            if ev is not None:
                c.check("SEQUENCE rose to 1 with the update",
                        int(ev.get("SEQUENCE")) == 1, ev.get("SEQUENCE"))
                c.check("the SUMMARY is the update's headline",
                        str(ev.get("SUMMARY")) == "Deadline: Observations due: two unions still to file",
                        ev.get("SUMMARY"))
            if window_uid in after:
                c.check("the window's SEQUENCE rose too", int(after[window_uid].get("SEQUENCE")) == 1)
            cancelled = after.get(f"{d_id}-deadline@tocsin")
            c.check("the cancelled call's event is there, STATUS:CANCELLED",
                    cancelled is not None and str(cancelled.get("STATUS")) == "CANCELLED",
                    cancelled and cancelled.get("STATUS"))
            if cancelled is not None:
                c.check("its SEQUENCE is past the versions the calendar saw",
                        int(cancelled.get("SEQUENCE")) >= 1)
                c.check("it shows none of the withdrawn content",
                        "Picket" not in cancelled.to_ical().decode())
            status, _, _ = http_get(node.http + "/calendar.ics", {"If-None-Match": etag})
            c.check("the old ETag no longer matches", status == 200, status)
        finally:
            node.stop()
    c.finish()


if __name__ == "__main__":
    main()
