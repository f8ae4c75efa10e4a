#!/usr/bin/env python3
"""The page in a real browser: headless Chromium (Debian's `chromium`) driven over the DevTools
protocol with a small websocket client.

Starts a real node, publishes over gRPC an alert in English and French, loads the page with a
French-speaking browser the size of a phone, and checks that the alert is shown in French,
that a call's goals are progress bars with their numbers in words and its page has a table of
the organisations that reported, that the page holds together (labels, headings, no script errors), that an HTML headline is
shown as text and runs nothing, and that after a cancel the alert is gone. Then the page in the
reader's language: French, Arabic (right to left) and Azerbaijani browsers get the gateway's own
words from i18n/<lang>.ftl and country names from CLDR. Saves screenshots under
target/screenshots/.

Prints one line per check and `N passed, M failed`; exits non-zero on any failure.
"""
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

import websocket

from tocsin_node import (ROOT, Checks, Node, Org, default_binary, generate_stubs, message_id,
                         now_ms, temp_dir)

DAY = 86_400_000
SHOTS = os.path.join(ROOT, "target", "screenshots")
INJECTED = "<img src=x onerror=\"document.title='pwned'\"><script>document.title='pwned'</script>"


class Chromium:
    """A headless Chromium with its own empty profile, reachable over the DevTools protocol."""

    def __init__(self, workdir):
        exe = shutil.which("chromium") or shutil.which("chromium-browser")
        if not exe:
            sys.exit("chromium is not installed (.ci/run installs Debian's chromium)")
        self.profile = tempfile.mkdtemp(dir=workdir, prefix="chromium-")
        self.proc = subprocess.Popen(
            [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--disable-extensions",
             "--disable-default-apps", "--hide-scrollbars", "--remote-debugging-port=0",
             f"--user-data-dir={self.profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = os.path.join(self.profile, "DevToolsActivePort")
        deadline = time.time() + 60
        while not os.path.exists(port_file) or not open(port_file).read().strip():
            if time.time() > deadline or self.proc.poll() is not None:
                self.close()
                sys.exit("chromium did not start")
            time.sleep(0.1)
        port = open(port_file).read().split()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            pages = [t for t in json.load(r) if t.get("type") == "page"]
        self.ws = websocket.create_connection(pages[0]["webSocketDebuggerUrl"], timeout=30,
                                              suppress_origin=True)
        self.next_id = 0
        self.events = []

    def call(self, method, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self.events.append(msg)

    def wait_event(self, name, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for i, e in enumerate(self.events):
                if e["method"] == name:
                    return self.events.pop(i)
            self.ws.settimeout(max(0.1, deadline - time.time()))
            msg = json.loads(self.ws.recv())
            if "method" in msg:
                self.events.append(msg)
        raise TimeoutError(name)

    def load(self, url):
        self.events = [e for e in self.events if e["method"] != "Page.loadEventFired"]
        self.call("Page.navigate", url=url)
        self.wait_event("Page.loadEventFired")

    def js(self, expression):
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in r:
            raise RuntimeError(r["exceptionDetails"])
        return r["result"].get("value")

    def screenshot(self, path, width, height, mobile):
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                  deviceScaleFactor=1, mobile=mobile)
        full = self.js("Math.ceil(document.documentElement.scrollHeight)")
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=max(height, full),
                  deviceScaleFactor=1, mobile=mobile)
        shot = self.call("Page.captureScreenshot", format="png")
        with open(path, "wb") as f:
            f.write(base64.b64decode(shot["data"]))
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                  deviceScaleFactor=1, mobile=mobile)

    def close(self):
        try:
            self.ws.close()
        except Exception:
            pass
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else default_binary()
    c = Checks()
    os.makedirs(SHOTS, exist_ok=True)
    with temp_dir() as tmp:
        stubs = os.path.join(tmp, "stubs")
        os.makedirs(stubs)
        generate_stubs(stubs)
        import grpc
        from tocsin.v1 import message_pb2 as m
        from tocsin.v1 import relay_pb2_grpc as rg

        node = Node(binary, tmp)
        browser = None
        try:
            channel = node.channel()
            grpc.channel_ready_future(channel).result(timeout=30)
            stub = rg.RelayStub(channel)

            def publish(org, **fields):
                body = m.MessageBody(author=org.public, **fields).SerializeToString()
                stub.Publish(m.SignedMessage(body=body, signature=org.sign(body)), timeout=10)
                return message_id(body)

            def alert(infos, severity=m.SEVERITY_SEVERE, category=m.CATEGORY_ARREST):
                return m.Alert(status=m.STATUS_ACTUAL, category=category,
                               urgency=m.URGENCY_IMMEDIATE, severity=severity,
                               certainty=m.CERTAINTY_OBSERVED, info=infos)

            dockers, teachers, other = Org(), Org(), Org()
            t = now_ms() - 60_000
            life = dict(expires_at=t + 30 * DAY)
            publish(dockers, created_at=t, **life,
                    profile=m.Profile(name="Eastland Dockworkers' Union", country="AZ"))
            publish(teachers, created_at=t, **life,
                    profile=m.Profile(name="Westland Teachers' Federation", country="GE"))
            call_id = publish(teachers, created_at=t, countries=["GE"], topics=["ilo"], **life, call=m.ActionCall(
                base=alert([
                    m.Info(language="en", headline="File observations with the CEACR on Westland",
                           description="Westland dismissed 40 teachers for union activity. "
                                       "Send observations on Conventions 87 and 98."),
                    m.Info(language="fr", headline="Envoyez vos observations à la CEACR sur Westland",
                           description="Westland a licencié 40 enseignants pour activité syndicale."),
                ], severity=m.SEVERITY_MODERATE, category=m.CATEGORY_DISMISSAL),
                actions=[m.ACTION_TYPE_ILO_OBSERVATION], target="Government of Westland",
                window_starts_at=t, window_ends_at=t + 20 * DAY, deadline=t + 21 * DAY,
                ilo_conventions=["C087", "C098"], supervisory_body=m.SUPERVISORY_BODY_CEACR,
                goals=[m.Goal(measure=m.MEASURE_LETTERS, target=1000),
                       m.Goal(measure=m.MEASURE_OBSERVATIONS, target=5)]))
            # Two organisations report on the call: letters, and observations filed.
            publish(dockers, created_at=t + 500, **life, report=m.ActionReport(
                target=bytes.fromhex(call_id),
                counts=[m.Count(measure=m.MEASURE_LETTERS, value=700)],
                filings=[m.Filing(body=m.SUPERVISORY_BODY_CEACR, filed_at=t,
                                  reference="Observation on C087")],
                statement="Letters from every branch of the port."))
            publish(teachers, created_at=t + 600, **life, report=m.ActionReport(
                target=bytes.fromhex(call_id),
                filings=[m.Filing(body=m.SUPERVISORY_BODY_CEACR, filed_at=t)]))
            alert_id = publish(dockers, created_at=t + 1000, countries=["AZ"], topics=["union-rights"],
                               **life, alert=alert([
                                   m.Info(language="en", headline="Four dockworkers' leaders detained in Eastport",
                                          description="Police detained four leaders at dawn.",
                                          instruction="Write to the Ministry of Labour of Eastland."),
                                   m.Info(language="fr", headline="Quatre dirigeants des dockers détenus à Eastport",
                                          description="La police a arrêté quatre dirigeants à l'aube.",
                                          instruction="Écrivez au ministère du Travail d'Eastland."),
                               ]))
            publish(other, created_at=t + 2000, countries=["AZ"], **life,
                    alert=alert([m.Info(language="en", headline=INJECTED,
                                        description="<b>not bold</b>")], severity=m.SEVERITY_MINOR,
                                category=m.CATEGORY_OTHER))

            browser = Chromium(tmp)
            version = browser.call("Browser.getVersion")
            browser.call("Page.enable")
            browser.call("Runtime.enable")
            browser.call("Network.enable")
            browser.call("Network.setCacheDisabled", cacheDisabled=True)
            browser.call("Emulation.setUserAgentOverride", userAgent=version["userAgent"],
                         acceptLanguage="fr-FR,fr;q=0.9,en;q=0.5")
            browser.call("Emulation.setDeviceMetricsOverride", width=390, height=844,
                         deviceScaleFactor=1, mobile=True)
            browser.load(node.http + "/")

            heads = browser.js("[...document.querySelectorAll('ol.items article h2')]"
                               ".map(h => [h.innerText, h.lang])")
            texts = [h[0] for h in heads]
            c.check("the alert posted over gRPC is on the page, in French",
                    ["Quatre dirigeants des dockers détenus à Eastport", "fr"] in heads, heads)
            c.check("the call is in French too, the English-only item in English",
                    ["Envoyez vos observations à la CEACR sur Westland", "fr"] in heads
                    and [INJECTED, "en"] in heads, heads)
            c.check("no English headline where French exists",
                    "Four dockworkers' leaders detained in Eastport" not in texts, texts)
            c.check("newest first", texts and texts[0] == INJECTED, texts)
            c.check("the author's name, severity and deadline are shown, in French",
                    browser.js("document.querySelector('main').innerText.includes("
                               "\"Eastland Dockworkers' Union\") && "
                               "document.querySelector('main').innerText.includes('Date limite')"))
            c.check("an HTML headline is shown as text and runs nothing",
                    browser.js("document.title") == "Tocsin : alertes et appels à l’action en cours"
                    and browser.js("document.querySelectorAll('main img, main script, main b').length") == 0,
                    browser.js("document.title"))
            c.check("no script error on the page",
                    not [e for e in browser.events if e["method"] == "Runtime.exceptionThrown"])
            c.check("accessible structure: lang, one h1, labelled fields, a language switcher",
                    browser.js("document.documentElement.lang") == "fr"
                    and browser.js("document.querySelectorAll('h1').length") == 1
                    and browser.js("[...document.querySelectorAll('select')].every(s => s.labels.length > 0)")
                    and browser.js("!!document.querySelector('nav[aria-label] a[lang=fr]')"))
            c.check("readable on a phone: nothing wider than the screen",
                    browser.js("document.documentElement.scrollWidth") <= 390,
                    browser.js("document.documentElement.scrollWidth"))
            browser.screenshot(os.path.join(SHOTS, "page-fr-phone.png"), 390, 844, True)
            browser.screenshot(os.path.join(SHOTS, "page-fr-desktop.png"), 1280, 900, False)

            # The filter form works without script: submit it by navigation, as a browser would.
            browser.load(node.http + "/?kind=call")
            heads = browser.js("[...document.querySelectorAll('ol.items article h2')].map(h => h.innerText)")
            c.check("the kind filter keeps only the call",
                    heads == ["Envoyez vos observations à la CEACR sur Westland"], heads)

            # As a phone again (the desktop screenshot above changed the size).
            browser.call("Emulation.setDeviceMetricsOverride", width=390, height=844,
                         deviceScaleFactor=1, mobile=True)
            browser.load(node.http + "/?kind=call")
            bars = browser.js(
                "[...document.querySelectorAll('ul.goals progress')].map(p => [p.value, p.max, "
                "document.getElementById(p.getAttribute('aria-labelledby')).innerText])")
            # The browser reads French: the tally is in its words and digit grouping.
            c.check("the call's goals are progress bars named by their numbers in words",
                    bars == [[700, 1000, "700 sur 1\u202f000 lettres — 70 %"],
                             [2, 5, "2 sur 5 observations déposées — 40 %"]], bars)
            c.check("and the totals and the number of reporting organisations are shown",
                    browser.js("document.querySelector('p.reported').innerText")
                    == "Signalé par 2 organisations : 700 lettres, 2 observations déposées.",
                    browser.js("document.querySelector('p.reported') && "
                               "document.querySelector('p.reported').innerText"))
            c.check("the bars fit a phone's screen",
                    browser.js("document.documentElement.scrollWidth") <= 390,
                    browser.js("document.documentElement.scrollWidth"))
            browser.screenshot(os.path.join(SHOTS, "page-progress-phone.png"), 390, 844, True)

            browser.load(f"{node.http}/m/{call_id}")
            rows = browser.js("[...document.querySelectorAll('table.reports')[0].tBodies[0].rows]"
                              ".map(r => [...r.cells].map(c => c.innerText))")
            c.check("the call's page has a table of the reporting organisations",
                    len(rows) == 2 and rows[0][0] == "Eastland Dockworkers' Union"
                    and rows[0][1] == "Azerbaïdjan" and rows[0][2].startswith("700 lettres")
                    and "Letters from every branch" in rows[0][4], rows)
            c.check("its tables have captions and header cells, and fit a phone's screen",
                    browser.js("[...document.querySelectorAll('table.reports')]"
                               ".every(t => t.caption && t.querySelectorAll('th[scope]').length > 0)")
                    and browser.js("document.documentElement.scrollWidth") <= 390,
                    browser.js("document.documentElement.scrollWidth"))
            browser.screenshot(os.path.join(SHOTS, "call-reports-phone.png"), 390, 1400, True)
            browser.screenshot(os.path.join(SHOTS, "call-reports-desktop.png"), 1280, 1200, False)

            # The detail page.
            browser.load(f"{node.http}/m/{alert_id}")
            c.check("the detail page opens in French with every language and the key",
                    browser.js("document.querySelector('h1').innerText")
                    == "Quatre dirigeants des dockers détenus à Eastport"
                    and browser.js("document.querySelectorAll('section.text').length") == 2
                    and browser.js(f"document.body.textContent.includes('{dockers.public.hex()}')")
                    and browser.js("document.body.innerText.includes('signature valide')"))
            c.check("the author's key is shown short, the whole key on demand",
                    browser.js(f"document.body.innerText.includes('{dockers.public.hex()[:12]}…')")
                    and not browser.js(f"document.body.innerText.includes('{dockers.public.hex()}')")
                    and browser.js("(() => { const d = document.querySelector('dd details.key');"
                                   " d.open = true; return d.innerText; })()").endswith(dockers.public.hex()))
            browser.screenshot(os.path.join(SHOTS, "message-fr-phone.png"), 390, 844, True)

            # The page in the reader's language, for three browsers.
            for lang, dir_, words in [
                ("fr", "ltr", ["Appel à l’action", "Que faire :", "Azerbaïdjan", "Géorgie"]),
                ("ar", "rtl", ["نداء للتحرك", "ما العمل:", "أذربيجان", "جورجيا"]),
                ("az", "ltr", ["Fəaliyyət çağırışı", "Nə etməli:", "Azərbaycan", "Gürcüstan"]),
            ]:
                browser.call("Emulation.setUserAgentOverride", userAgent=version["userAgent"],
                             acceptLanguage=lang)
                browser.call("Emulation.setDeviceMetricsOverride", width=390, height=844,
                             deviceScaleFactor=1, mobile=True)
                browser.load(node.http + "/")
                text = browser.js("document.body.innerText")
                c.check(f"{lang}: the page is <html lang={lang} dir={dir_}>",
                        browser.js("[document.documentElement.lang, document.documentElement.dir]")
                        == [lang, dir_])
                missing = [w for w in words if w not in text]
                c.check(f"{lang}: the gateway's words and CLDR's country names", not missing, missing)
                c.check(f"{lang}: the call's actions and target on the front page",
                        "Government of Westland" in text)
                c.check(f"{lang}: readable on a phone", browser.js(
                    "document.documentElement.scrollWidth") <= 390,
                    browser.js("document.documentElement.scrollWidth"))
                if dir_ == "rtl":
                    # Mirrored: the language switcher's items flow from the right.
                    c.check("ar: the layout runs right to left",
                            browser.js("getComputedStyle(document.body).direction") == "rtl"
                            and browser.js("(() => { const li = document.querySelectorAll('nav.langs li');"
                                           " return li.length > 1 && li[0].getBoundingClientRect().left"
                                           " > li[1].getBoundingClientRect().left; })()"))
                browser.screenshot(os.path.join(SHOTS, f"page-{lang}-phone.png"), 390, 844, True)
                browser.screenshot(os.path.join(SHOTS, f"page-{lang}-desktop.png"), 1280, 900, False)
                browser.load(f"{node.http}/m/{call_id}")
                c.check(f"{lang}: the message page is in {lang} too",
                        browser.js("document.documentElement.lang") == lang
                        and words[0] in browser.js("document.body.innerText"))
                browser.screenshot(os.path.join(SHOTS, f"message-{lang}-phone.png"), 390, 844, True)
            browser.call("Emulation.setUserAgentOverride", userAgent=version["userAgent"],
                         acceptLanguage="fr-FR,fr;q=0.9,en;q=0.5")

            # /page.js adds the reader's local time beside each UTC time (Baku is UTC+4).
            browser.call("Emulation.setTimezoneOverride", timezoneId="Asia/Baku")
            browser.load(node.http + "/")
            locals_ = browser.js("[...document.querySelectorAll('time + span.local')].map(s => s.innerText)")
            c.check("local times beside the UTC ones, from the same-origin script",
                    bool(locals_) and len(locals_) == browser.js(
                        "document.querySelectorAll('time[datetime]').length"), locals_)
            c.check("and no script error", not [e for e in browser.events
                                                 if e["method"] == "Runtime.exceptionThrown"])
            browser.screenshot(os.path.join(SHOTS, "page-fr-local-time-phone.png"), 390, 844, True)
            browser.call("Emulation.setTimezoneOverride", timezoneId="UTC")

            # A cancel removes it.
            publish(dockers, created_at=t + 3000, **life,
                    cancel=m.Cancel(target=bytes.fromhex(alert_id), reason="Names exposed"))
            browser.load(node.http + "/")
            heads = browser.js("[...document.querySelectorAll('ol.items article h2')].map(h => h.innerText)")
            c.check("after a cancel the alert is gone from the page",
                    "Quatre dirigeants des dockers détenus à Eastport" not in heads and len(heads) == 2,
                    heads)
            browser.load(f"{node.http}/m/{alert_id}")
            c.check("and its page says it was withdrawn",
                    browser.js("document.querySelector('h1').innerText") == "Retiré")
            channel.close()
        finally:
            if browser:
                browser.close()
            code = node.stop()
        c.check("SIGTERM stops the node cleanly (exit 0)", code == 0, str(code))
    print(f"screenshots in {SHOTS}")
    c.finish()


if __name__ == "__main__":
    main()
