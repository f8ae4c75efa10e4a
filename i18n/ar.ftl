# كلمات البوابة على الويب باللغة العربية. المفاتيح و{ $المتغيرات } هي نفسها الموجودة في en.ftl
# (انظر تعليقاته: ما هي كل رسالة وماذا تحمل متغيراتها). صيغ الجمع في العربية:
# zero (0)، one (1)، two (2)، few (3–10)، many (11–99)، other (100 وما شابه).

## إطار كل صفحة

site-tagline = تنبيهات تضامن ونداءات للتحرك، موقّعة من النقابات التي كتبتها.
skip-to-content = انتقل إلى المحتوى
index-title = Tocsin: التنبيهات ونداءات التحرك الحالية
all-current = كل التنبيهات والنداءات الحالية
this-node = هذه العقدة:

## اختيار اللغة

switcher-label = لغة القراءة
read-in = اقرأ بـ:
browser-language = لغة متصفحك

## المرشِّحات

filters-label = تصفية التنبيهات والنداءات
filter-kind = النوع
filter-kind-any = التنبيهات والنداءات
filter-kind-alert = التنبيهات
filter-kind-call = نداءات التحرك
filter-country = البلد
filter-country-any = كل البلدان
filter-topic = الموضوع
filter-topic-any = كل المواضيع
filter-language = متوفر بـ
filter-language-any = أي لغة
filter-authors = الكُتّاب
filter-authors-any = الموثوقون أولًا
filter-authors-trusted = الموثوقون فقط
filter-authors-unverified = غير الموثَّقين فقط
filter-show = اعرض
filter-clear = امسح المرشِّحات

## عدد العناصر في الصفحة

count-none-filtered = لا يطابق هذه المرشِّحات أي تنبيه أو نداء حالي.
count-none = لا توجد تنبيهات أو نداءات حالية.
count-all =
    { $total ->
        [zero] لا توجد تنبيهات أو نداءات حالية.
        [one] تنبيه أو نداء حالي واحد.
        [two] تنبيهان أو نداءان حاليان، الأحدث أولًا.
        [few] { $total } تنبيهات ونداءات حالية، الأحدث أولًا.
        [many] { $total } تنبيهًا ونداءً حاليًا، الأحدث أولًا.
       *[other] { $total } تنبيه ونداء حالي، الأحدث أولًا.
    }
count-trusted-first = { $shown } من أصل { $total } من التنبيهات والنداءات الحالية: من الكُتّاب الموثوقين أولًا.
count-newest = الأحدث { $shown } من أصل { $total } من التنبيهات والنداءات الحالية.
count-many = الأحدث { $shown } من أصل { $total } على الأقل من التنبيهات والنداءات الحالية.
unverified-hidden-many = { $count } عنصرًا آخر على الأقل غير معروضة هنا: { $link }.
unverified-note = العناصر التي تحمل علامة { $badge } موقّعة بمفاتيح لا تعرفها هذه العقدة ولا تذكرها أي قائمة موثوقة؛ وهي تأتي بعد غيرها.
unverified-hidden =
    { $count ->
        [one] عنصر آخر غير معروض هنا: { $link }.
        [two] عنصران آخران غير معروضين هنا: { $link }.
        [few] { $count } عناصر أخرى غير معروضة هنا: { $link }.
        [many] { $count } عنصرًا آخر غير معروض هنا: { $link }.
       *[other] { $count } عنصر آخر غير معروض هنا: { $link }.
    }
unverified-show = اعرض عناصر الكُتّاب غير الموثَّقين

## الشارات والتسميات

badge-unverified = كاتب غير موثَّق
kind-alert = تنبيه
kind-call = نداء للتحرك
severity-extreme = خطر بالغ
severity-severe = خطير
severity-moderate = متوسط
severity-minor = طفيف
severity-unknown = الخطورة غير معروفة
status-exercise = تمرين
status-test = اختبار فقط
category-arrest = اعتقال
category-dismissal = فصل من العمل
category-strike = إضراب
category-lockout = إغلاق المنشأة
category-violence = عنف
category-safety = السلامة في العمل
category-legislation = تشريعات
category-union-busting = قمع النقابات
category-other = غير ذلك
action-petition = وقّع عريضة
action-letter = اكتب رسالة
action-protest = شارك في احتجاج
action-strike = إضراب تضامني
action-boycott = قاطع
action-donation = تبرّع
action-ilo-observation = قدّم ملاحظات إلى منظمة العمل الدولية
action-solidarity-message = أرسل رسالة تضامن
action-other = تحرك آخر
body-ceacr = لجنة خبراء منظمة العمل الدولية (CEACR)
body-cas = لجنة تطبيق المعايير في مؤتمر العمل الدولي (CAS)
body-cfa = لجنة الحرية النقابية في منظمة العمل الدولية (CFA)
body-other = هيئة أخرى
urgency-immediate = تحرّك الآن
urgency-expected = تحرّك قريبًا
urgency-future = تحرّك في الأيام القادمة
urgency-past = لم يعد التحرك مطلوبًا
certainty-observed = مؤكَّد
certainty-likely = مرجَّح
certainty-possible = ممكن
certainty-unlikely = غير مرجَّح

## عنصر في الصفحة الرئيسية

item-by = من { $name }
item-updated = حُدِّث { $time }
item-what-to-do = ما العمل:
item-asked = المطلوب:
item-addressed-to = موجَّه إلى:
item-deadline = الموعد النهائي:
item-window = فترة التحرك:
item-from = التحرك ابتداءً من:
item-until = التحرك حتى:
item-in-language = باللغة: { $language }.
item-in-language-translated = باللغة: { $language }، مترجَم.
item-translated-by = ترجمة { $name }.
endorsements =
    { $count ->
        [0] لا تأييد بعد
        [zero] لا تأييد بعد
        [one] تأييد واحد
        [two] تأييدان
        [few] { $count } تأييدات
        [many] { $count } تأييدًا
       *[other] { $count } تأييد
    }
item-details = التفاصيل
item-details-of = عن { $headline }
this-item = هذا العنصر

## رسالة كاملة

fact-author = من
author-roster = { $name } (بهذا الاسم في قائمة أعضاء { $federation })
author-successor = { $name } (مفتاحه الجديد: يخلف المفتاح { $key })
author-unknown = كاتب ليس له ملف تعريف على هذه العقدة
fact-key-history = تاريخ المفتاح
fact-trust = الثقة
trust-unverified = كاتب غير موثَّق: لا تعرف هذه العقدة هذا المفتاح، ولا تذكره قائمة السماح لديها ولا قائمة أعضاء اتحاد موثوق. التوقيع يثبت فقط أن حامل المفتاح كتب هذا.
fact-key = مفتاح الكاتب
fact-category = ما الذي حدث
fact-severity = مدى الخطورة
fact-urgency = متى تتحرك
fact-certainty = مدى اليقين
fact-actions = المطلوب
fact-target = موجَّه إلى
fact-deadline = الموعد النهائي
fact-window = فترة التحرك
fact-conventions = اتفاقيات منظمة العمل الدولية
fact-body = هيئة الرقابة
fact-countries = البلدان
fact-topics = المواضيع
fact-published = نُشر
fact-updated = حُدِّث
fact-embargo = محجوب حتى
fact-expires = ينتهي
fact-endorsements = التأييدات
texts-heading =
    { $count ->
        [one] بلغة واحدة
        [two] بلغتين
        [few] بـ{ $count } لغات
        [many] بـ{ $count } لغة
       *[other] بـ{ $count } لغة
    }
text-translated-by = ترجمة { $name }
what-to-do = ما العمل:
more-information = مزيد من المعلومات
history = السجل
history-published = نُشر { $time } من { $name }
history-updated = حُدِّث { $time } من { $name }
history-current = (الحالية)
endorsements-heading = التأييدات ({ $count })
no-endorsements = لا تأييد بعد.
signatures = التوقيعات
signatures-note = كل نسخة موقّعة بخوارزمية Ed25519 من كاتبها؛ ومعرّفها هو SHA-256 للنص الموقَّع. تحققت هذه العقدة من كل توقيع عند وصوله ومرة أخرى لهذه الصفحة.
signature-original = الأصل
signature-update = تحديث
signature-translation = ترجمة
signature-valid = توقيع صحيح
signature-invalid = التوقيع غير صحيح
signature-key = المفتاح
cap-document = هذه النسخة كمستند CAP 1.2
show-full-key = المفتاح كاملًا

## الخلاصات

feeds = الخلاصات:
feed-atom = Atom
feed-cap = فهرس CAP 1.2
feed-calendar = التقويم
feed-calendar-note = (المواعيد النهائية، لتطبيق التقويم لديك)
feeds-signed = كل عنصر موقَّع من المنظمة التي كتبته ومتحقَّق منه على هذه العقدة؛ وتعرض صفحته التوقيع ومفتاح الكاتب.
feed-title = Tocsin: التنبيهات والنداءات الحالية

## المفاتيح المنتهية

keys-heading = المفاتيح الملغاة والمستبدَلة
keys-note = المنظمة التي صودر مفتاحها أو فُقد تُنهيه: ما وقّعه المفتاح ابتداءً من الوقت المذكور تحجبه هذه العقدة، وما وقّعه قبل ذلك يبقى قائمًا. المفتاح المستبدَل بمفتاح الاسترداد ينقل اسم المنظمة إلى خلفه.
key-rotated = { $mark } بمفتاح الاسترداد بعد اختراق؛ ما وقّعه ابتداءً من { $time } محجوب
key-revoked = { $mark }؛ ما وقّعه ابتداءً من { $time } محجوب
key-rotated-mark = استُبدل
key-revoked-mark = أُلغي
key-compromised = (يقول الاستبدال إنه مخترق منذ { $time })
key-successor = يستمر باسم { $name } { $key }
key-reason = السبب: { $reason }
key-conflict = تحذير: التزام استرداد متعارض وُقّع بهذا المفتاح في { $time }، لمفتاح استرداد غير الأول: ربما كان المفتاح حينها بيد أحد غير المنظمة.
keys-more =
    { $count ->
        [one] ينتهي هنا مفتاح آخر (الأقدم غير مدرج).
        [two] ينتهي هنا مفتاحان آخران (الأقدم غير مدرج).
        [few] تنتهي هنا { $count } مفاتيح أخرى (الأقدم غير مدرجة).
        [many] ينتهي هنا { $count } مفتاحًا آخر (الأقدم غير مدرجة).
       *[other] ينتهي هنا { $count } مفتاح آخر (الأقدم غير مدرجة).
    }

## الأوقات نسبةً إلى الآن

time-now = الآن
time-in-minutes =
    { $count ->
        [one] خلال دقيقة واحدة
        [two] خلال دقيقتين
        [few] خلال { $count } دقائق
        [many] خلال { $count } دقيقة
       *[other] خلال { $count } دقيقة
    }
time-in-hours =
    { $count ->
        [one] خلال ساعة واحدة
        [two] خلال ساعتين
        [few] خلال { $count } ساعات
        [many] خلال { $count } ساعة
       *[other] خلال { $count } ساعة
    }
time-in-days =
    { $count ->
        [one] خلال يوم واحد
        [two] خلال يومين
        [few] خلال { $count } أيام
        [many] خلال { $count } يومًا
       *[other] خلال { $count } يوم
    }
time-minutes-ago =
    { $count ->
        [one] قبل دقيقة واحدة
        [two] قبل دقيقتين
        [few] قبل { $count } دقائق
        [many] قبل { $count } دقيقة
       *[other] قبل { $count } دقيقة
    }
time-hours-ago =
    { $count ->
        [one] قبل ساعة واحدة
        [two] قبل ساعتين
        [few] قبل { $count } ساعات
        [many] قبل { $count } ساعة
       *[other] قبل { $count } ساعة
    }
time-days-ago =
    { $count ->
        [one] قبل يوم واحد
        [two] قبل يومين
        [few] قبل { $count } أيام
        [many] قبل { $count } يومًا
       *[other] قبل { $count } يوم
    }


## ما أبلغت المنظمات أنها فعلته استجابةً لنداء

reports-heading = التحركات المُبلَّغ عنها
reports-goals = الأهداف
reports-none = لم تُبلغ أي منظمة بعد.
reports-note = يُحتسب آخر بلاغ موقَّع من كل منظمة؛ والتعديل يحل محل أرقامها السابقة.
reports-caption = المنظمات المُبلِّغة
reports-organisation = المنظمة
reports-country = البلد
reports-reported = المُبلَّغ عنه
reports-as-of = بتاريخ
reports-statement = البيان
reports-evidence = الدليل
reports-by-country = حسب البلد
reports-organisations = المنظمات
reports-country-not-given = غير مذكور
reports-federations = الاتحادات

## Tallies in words on the pages (the feeds and the command line give them in English)
# $n: the number, for plural forms; $count: it written out with its digits grouped.
tally-letters = { $n ->
       *[other] رسائل: { $count }
    }
tally-signatures = { $n ->
       *[other] توقيعات: { $count }
    }
tally-participants = { $n ->
       *[other] مشاركون: { $count }
    }
tally-strikers = { $n ->
       *[other] مضربون: { $count }
    }
tally-donations = { $n ->
       *[other] تبرعات: { $count } { $currency }
    }
tally-observations = { $n ->
       *[other] ملاحظات مقدّمة: { $count }
    }
tally-messages = { $n ->
       *[other] رسائل تضامن: { $count }
    }
tally-organisations = { $n ->
       *[other] منظمات: { $count }
    }
tally-reported-by = أبلغت { $organisations }.
tally-reported-by-totals = أبلغت { $organisations }؛ { $totals }.
tally-goal = { $reached } من { $goal } — { $percent }٪
tally-roster = { $n ->
       *[other] أعضاء { $federation } الذين أبلغوا: { $reported } من { $members }
    }
tally-filing = ملاحظة مقدّمة إلى { $body } في { $date }

## ما لا يمكن عرضه

withdrawn-title = سُحبت
withdrawn-text = سحب الكاتب هذه الرسالة. لم تعد هذه العقدة تقدّم محتواها.
message-id = المعرّف:
withdrawn-reason = سبب الكاتب: { $reason }
withheld-title = محجوبة
withheld-text = وُقّعت هذه الرسالة بمفتاح { $name } ({ $key })، الذي لم يعد في يدها. تحجبها هذه العقدة: { $why }.
withheld-text-since = وُقّعت هذه الرسالة بمفتاح { $name } ({ $key })، الذي لم يعد في يدها منذ { $date }. تحجبها هذه العقدة: { $why }.
withheld-not-served = لا يُقدَّم محتواها.
not-found-title = غير موجود
not-found-address = لا شيء في هذا العنوان.
not-found-message = لا تعرض هذه العقدة أي تنبيه أو نداء حالي بهذا المعرّف.
bad-request-title = طلب غير صالح
bad-request-text = يطلب هذا العنوان شيئًا لا تستطيع الصفحة عرضه: { $problem }.
