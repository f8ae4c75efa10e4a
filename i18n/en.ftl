# The web gateway's own words, in English (the reference file: every other language has the
# same keys, and a word missing there is shown in English).
#
# To translate: copy this file to i18n/<language>.ftl, keep every key (the part before " = ")
# and every { $variable } as they are, and translate the text. A variable's value is filled in
# by the gateway; the comment above each message says what it holds. Plural forms follow
# Project Fluent: { $count -> [one] … *[other] … } with your language's categories
# (zero, one, two, few, many, other). Keep HTML out of the text: the gateway escapes it.

## The frame of every page

site-tagline = Solidarity alerts and action calls, signed by the unions that wrote them.
skip-to-content = Skip to content
# The title of the front page (the browser's tab).
index-title = Tocsin: current alerts and action calls
# The link back to the front page.
all-current = All current alerts and calls
# Before this node's own key, at the foot of every page.
this-node = This node:

## The language switcher

switcher-label = Reading language
read-in = Read in:
browser-language = your browser's language

## The filters on the front page

filters-label = Filter alerts and calls
filter-kind = Kind
filter-kind-any = Alerts and calls
filter-kind-alert = Alerts
filter-kind-call = Action calls
filter-country = Country
filter-country-any = All countries
filter-topic = Topic
filter-topic-any = All topics
filter-language = Available in
filter-language-any = Any language
filter-authors = Authors
filter-authors-any = Trusted first
filter-authors-trusted = Trusted only
filter-authors-unverified = Unverified only
filter-show = Show
filter-clear = Clear filters

## How many items the front page shows

count-none-filtered = No current alert or call matches these filters.
count-none = No current alerts or calls.
# $total: how many items are current (all of them are shown).
count-all =
    { $total ->
        [one] { $total } current alert or call.
       *[other] { $total } current alerts and calls, newest first.
    }
# $shown of $total are shown, trusted authors' first.
count-trusted-first = { $shown } of { $total } current alerts and calls: by trusted authors first.
# $shown of $total are shown, the newest.
count-newest = The { $shown } newest of { $total } current alerts and calls.
# $shown are shown, the newest; $total: how many were read, when there are too many to count (a lower bound).
count-many = The { $shown } newest of at least { $total } current alerts and calls.
# $count: a lower bound of the items by unverified authors left out; $link: as in unverified-hidden.
unverified-hidden-many = At least { $count } more are not shown here: { $link }.
# $badge: the "Unverified author" badge itself.
unverified-note = Items marked { $badge } are signed by keys this node has no history with and no trusted list names; they come after the others.
# $count: how many items by unverified authors are left out; $link: a link (text: unverified-show).
unverified-hidden =
    { $count ->
        [one] { $count } more is not shown here: { $link }.
       *[other] { $count } more are not shown here: { $link }.
    }
unverified-show = show items by unverified authors

## Badges and labels of an item

badge-unverified = Unverified author
kind-alert = Alert
kind-call = Action call
# How serious the situation is (shown as a coloured badge).
severity-extreme = Extreme danger
severity-severe = Serious
severity-moderate = Moderate
severity-minor = Minor
severity-unknown = Seriousness unknown
# A message that is not about a real event.
status-exercise = Exercise
status-test = Test only
category-arrest = Arrest
category-dismissal = Dismissal
category-strike = Strike
category-lockout = Lockout
category-violence = Violence
category-safety = Safety at work
category-legislation = Legislation
category-union-busting = Union busting
category-other = Other
# What a call asks people to do.
action-petition = Sign a petition
action-letter = Write a letter
action-protest = Protest
action-strike = Solidarity strike
action-boycott = Boycott
action-donation = Donate
action-ilo-observation = File ILO observations
action-solidarity-message = Send a solidarity message
action-other = Other action
# The body of the International Labour Organization that a call addresses.
body-ceacr = ILO Committee of Experts (CEACR)
body-cas = ILO Conference Committee on the Application of Standards (CAS)
body-cfa = ILO Committee on Freedom of Association (CFA)
body-other = Another body
# When to act, in plain words.
urgency-immediate = Act now
urgency-expected = Act soon
urgency-future = Act in the coming days
urgency-past = No action needed any more
# How sure the author is of what it reports.
certainty-observed = Confirmed
certainty-likely = Likely
certainty-possible = Possible
certainty-unlikely = Unlikely

## One item on the front page

# $name: the organisation that wrote it.
item-by = By { $name }
# $time: when the latest version was made.
item-updated = updated { $time }
item-what-to-do = What to do:
item-asked = Asked:
item-addressed-to = Addressed to:
item-deadline = Deadline:
item-window = Action window:
item-from = Action from:
item-until = Action until:
# $language: the name of the language the text is in, when it is not the reader's.
item-in-language = In { $language }.
item-in-language-translated = In { $language }, translated.
# $name: the organisation that translated it.
item-translated-by = Translated by { $name }.
# $count: how many organisations endorsed it.
endorsements =
    { $count ->
        [0] No endorsements yet
        [one] { $count } endorsement
       *[other] { $count } endorsements
    }
item-details = Details
# Read by screen readers after "Details"; $headline: the item's headline.
item-details-of = of { $headline }
this-item = this item

## One message in full

fact-author = From
# $name: an organisation's name; $federation: the federation whose member list names it.
author-roster = { $name } (as named in the roster of { $federation })
# $name: an organisation's name; $key: its previous key, shortened.
author-successor = { $name } (its new key: it carries on for { $key })
author-unknown = an author without a profile on this node
fact-key-history = Key history
fact-trust = Trust
trust-unverified = Unverified author: this node has no history with this key, and neither its allow list nor a trusted federation's roster names it. The signature proves only that the key's holder wrote this.
fact-key = Author's key
fact-category = What happened
fact-severity = How serious
fact-urgency = When to act
fact-certainty = How sure
fact-actions = What is asked
fact-target = Addressed to
fact-deadline = Deadline
fact-window = Action window
fact-conventions = ILO conventions
fact-body = Supervisory body
fact-countries = Countries
fact-topics = Topics
fact-published = Published
fact-updated = Updated
fact-embargo = Held back until
fact-expires = Expires
fact-endorsements = Endorsements
# $count: in how many languages the message can be read.
texts-heading =
    { $count ->
        [one] In { $count } language
       *[other] In { $count } languages
    }
# $name: the organisation that translated it (its key follows).
text-translated-by = translated by { $name }
what-to-do = What to do:
more-information = More information
history = History
# $time: when; $name: who published it.
history-published = Published { $time } by { $name }
history-updated = Updated { $time } by { $name }
history-current = (current)
# $count: how many organisations endorsed it.
endorsements-heading = Endorsements ({ $count })
no-endorsements = No endorsements yet.
signatures = Signatures
signatures-note = Each version is signed with Ed25519 by its author; its id is the SHA-256 of the signed text. This node checked every signature when it arrived and again for this page.
signature-original = Original
signature-update = Update
signature-translation = Translation
signature-valid = valid signature
signature-invalid = signature does NOT verify
signature-key = key
cap-document = This version as a CAP 1.2 document
show-full-key = full key

## Feeds, at the foot of the front page

feeds = Feeds:
feed-atom = Atom
feed-cap = CAP 1.2 index
feed-calendar = Calendar
feed-calendar-note = (deadlines, for your calendar app)
feeds-signed = Every item is signed by the organisation that wrote it and verified by this node; its page shows the signature and the author's key.
feed-title = Tocsin: current alerts and calls

## Keys that ended

keys-heading = Keys revoked and rotated
keys-note = An organisation whose key was seized or lost ends it: what the key signed from the time given is withheld by this node, and what it signed before stands. A key rotated by its recovery key hands the organisation's name on to its successor.
# $mark: the word "rotated" or "revoked" (key-rotated-mark, key-revoked-mark), marked in
# colour; $time: from when what the key signed is withheld.
key-rotated = { $mark } by its recovery key after a compromise; what it signed from { $time } is withheld
key-revoked = { $mark }; what it signed from { $time } is withheld
key-rotated-mark = rotated
key-revoked-mark = revoked
# $time: from when the rotation says the key was in other hands.
key-compromised = (the rotation says compromised from { $time })
# $name: the organisation's new key's name; $key: the new key, shortened.
key-successor = Carries on as { $name } { $key }
# $reason: the organisation's own words.
key-reason = Reason: { $reason }
# $time: when the conflicting commitment was signed.
key-conflict = Warning: conflicting recovery commitment signed with this key on { $time }, to a different recovery key than its first: someone other than the organisation may have held the key then.
# $count: how many more ended keys are not listed.
keys-more =
    { $count ->
        [one] { $count } more key ends here (the oldest is not listed).
       *[other] { $count } more keys end here (the oldest are not listed).
    }

## Times, relative to now

time-now = just now
# $count: a number of minutes, hours or days.
time-in-minutes =
    { $count ->
        [one] in { $count } minute
       *[other] in { $count } minutes
    }
time-in-hours =
    { $count ->
        [one] in { $count } hour
       *[other] in { $count } hours
    }
time-in-days =
    { $count ->
        [one] in { $count } day
       *[other] in { $count } days
    }
time-minutes-ago =
    { $count ->
        [one] { $count } minute ago
       *[other] { $count } minutes ago
    }
time-hours-ago =
    { $count ->
        [one] { $count } hour ago
       *[other] { $count } hours ago
    }
time-days-ago =
    { $count ->
        [one] { $count } day ago
       *[other] { $count } days ago
    }


## What organisations reported doing for a call (its page)

reports-heading = Reported actions
reports-goals = Goals
reports-none = No organisation has reported yet.
reports-note = Each organisation's latest signed report counts; a revision replaces its earlier figures.
# The table's caption and its column headings.
reports-caption = Reporting organisations
reports-organisation = Organisation
reports-country = Country
reports-reported = Reported
reports-as-of = As of
reports-statement = Statement
# A link to what an organisation gave as evidence.
reports-evidence = Evidence
reports-by-country = By country
reports-organisations = Organisations
# In place of a country an organisation did not give.
reports-country-not-given = Not given
reports-federations = Federations

## Tallies in words on the pages (the feeds and the command line give them in English)
# $n: the number, for plural forms; $count: it written out with its digits grouped.
tally-letters = { $n ->
        [one] { $count } letter
       *[other] { $count } letters
    }
tally-signatures = { $n ->
        [one] { $count } signature
       *[other] { $count } signatures
    }
tally-participants = { $n ->
        [one] { $count } participant
       *[other] { $count } participants
    }
tally-strikers = { $n ->
        [one] { $count } striker
       *[other] { $count } strikers
    }
# $currency: an ISO 4217 code.
tally-donations = { $n ->
       *[other] { $count } { $currency } in donations
    }
tally-observations = { $n ->
        [one] { $count } observation filed
       *[other] { $count } observations filed
    }
tally-messages = { $n ->
        [one] { $count } solidarity message
       *[other] { $count } solidarity messages
    }
tally-organisations = { $n ->
        [one] { $count } organisation
       *[other] { $count } organisations
    }
tally-reported-by = Reported by { $organisations }.
tally-reported-by-totals = Reported by { $organisations }: { $totals }.
# $reached: how many so far; $goal: the goal in words ("3,000 letters").
tally-goal = { $reached } of { $goal } — { $percent }%
# $n: the federation's members, for plural forms; $reported, $members: written out.
tally-roster = { $n ->
        [one] { $reported } of { $members } affiliate of { $federation } reported
       *[other] { $reported } of { $members } affiliates of { $federation } reported
    }
# $body: the ILO supervisory body ("CEACR"); $date: YYYY-MM-DD.
tally-filing = observation filed with the { $body } on { $date }

## Pages for what cannot be shown

withdrawn-title = Withdrawn
withdrawn-text = The author withdrew this message. Its content is no longer served by this node.
message-id = Id:
# $reason: the author's own words.
withdrawn-reason = The author's reason: { $reason }
withheld-title = Withheld
# $name: the organisation; $key: its key, shortened; $why: why this node withholds it.
withheld-text = This message was signed with the key of { $name } ({ $key }), which is no longer in its hands. This node withholds it: { $why }.
# The same, with $date: since when the key is no longer in its hands.
withheld-text-since = This message was signed with the key of { $name } ({ $key }), which is no longer in its hands since { $date }. This node withholds it: { $why }.
withheld-not-served = Its content is not served.
not-found-title = Not found
not-found-address = There is nothing at this address.
not-found-message = This node shows no current alert or call with this id.
bad-request-title = Bad request
# $problem: what was wrong with the address (in English).
bad-request-text = This address asks for something the page cannot show: { $problem }.
