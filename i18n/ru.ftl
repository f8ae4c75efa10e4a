# Слова веб-шлюза на русском языке. Ключи и { $переменные } — те же, что в en.ftl (см. его
# комментарии: что означает каждое сообщение и что содержат его переменные). Формы
# множественного числа: one (1, 21…), few (2–4, 22…), many (5–20, 25…), other (дроби).

## Рамка каждой страницы

site-tagline = Тревожные сообщения солидарности и призывы к действию, подписанные профсоюзами, которые их написали.
skip-to-content = Перейти к содержанию
index-title = Tocsin: актуальные тревожные сообщения и призывы к действию
all-current = Все актуальные сообщения и призывы
this-node = Этот узел:

## Выбор языка

switcher-label = Язык чтения
read-in = Читать на:
browser-language = языке вашего браузера

## Фильтры

filters-label = Фильтр сообщений и призывов
filter-kind = Вид
filter-kind-any = Сообщения и призывы
filter-kind-alert = Тревожные сообщения
filter-kind-call = Призывы к действию
filter-country = Страна
filter-country-any = Все страны
filter-topic = Тема
filter-topic-any = Все темы
filter-language = Доступно на
filter-language-any = Любой язык
filter-authors = Авторы
filter-authors-any = Сначала проверенные
filter-authors-trusted = Только проверенные
filter-authors-unverified = Только непроверенные
filter-show = Показать
filter-clear = Сбросить фильтры

## Сколько записей на странице

count-none-filtered = Ни одно актуальное сообщение или призыв не подходит под эти фильтры.
count-none = Актуальных сообщений и призывов нет.
count-all =
    { $total ->
        [one] { $total } актуальное сообщение или призыв, сначала новые.
        [few] { $total } актуальных сообщения и призыва, сначала новые.
        [many] { $total } актуальных сообщений и призывов, сначала новые.
       *[other] { $total } актуальных сообщений и призывов, сначала новые.
    }
count-trusted-first = { $shown } из { $total } актуальных сообщений и призывов: сначала от проверенных авторов.
count-newest = { $shown } самых новых из { $total } актуальных сообщений и призывов.
count-many = { $shown } самых новых как минимум из { $total } актуальных сообщений и призывов.
unverified-hidden-many = Ещё как минимум { $count } здесь не показаны: { $link }.
unverified-note = Записи с отметкой { $badge } подписаны ключами, которые этот узел не знает и которых нет ни в одном доверенном списке; они идут после остальных.
unverified-hidden =
    { $count ->
        [one] Ещё { $count } запись здесь не показана: { $link }.
        [few] Ещё { $count } записи здесь не показаны: { $link }.
        [many] Ещё { $count } записей здесь не показаны: { $link }.
       *[other] Ещё { $count } записи здесь не показаны: { $link }.
    }
unverified-show = показать записи непроверенных авторов

## Значки и подписи

badge-unverified = Автор не проверен
kind-alert = Тревожное сообщение
kind-call = Призыв к действию
severity-extreme = Крайняя опасность
severity-severe = Серьёзно
severity-moderate = Умеренно
severity-minor = Незначительно
severity-unknown = Серьёзность неизвестна
status-exercise = Учения
status-test = Только проверка
category-arrest = Арест
category-dismissal = Увольнение
category-strike = Забастовка
category-lockout = Локаут
category-violence = Насилие
category-safety = Охрана труда
category-legislation = Законодательство
category-union-busting = Подавление профсоюзов
category-other = Другое
action-petition = Подписать петицию
action-letter = Написать письмо
action-protest = Выйти на протест
action-strike = Забастовка солидарности
action-boycott = Бойкот
action-donation = Пожертвовать
action-ilo-observation = Направить замечания в МОТ
action-solidarity-message = Отправить послание солидарности
action-other = Другое действие
body-ceacr = Комитет экспертов МОТ (CEACR)
body-cas = Комитет Конференции МОТ по применению норм (CAS)
body-cfa = Комитет МОТ по свободе объединения (CFA)
body-other = Другой орган
urgency-immediate = Действовать сейчас
urgency-expected = Действовать скоро
urgency-future = Действовать в ближайшие дни
urgency-past = Действовать больше не нужно
certainty-observed = Подтверждено
certainty-likely = Вероятно
certainty-possible = Возможно
certainty-unlikely = Маловероятно

## Запись на главной странице

item-by = От: { $name }
item-updated = обновлено { $time }
item-what-to-do = Что делать:
item-asked = Просят:
item-addressed-to = Адресат:
item-deadline = Срок:
item-window = Период действия:
item-from = Действие с:
item-until = Действие до:
item-in-language = На языке: { $language }.
item-in-language-translated = На языке: { $language }, перевод.
item-translated-by = Перевод: { $name }.
endorsements =
    { $count ->
        [0] Поддержек пока нет
        [one] { $count } поддержка
        [few] { $count } поддержки
        [many] { $count } поддержек
       *[other] { $count } поддержки
    }
item-details = Подробнее
item-details-of = о записи «{ $headline }»
this-item = эта запись

## Сообщение целиком

fact-author = От
author-roster = { $name } (так назван в списке членов { $federation })
author-successor = { $name } (его новый ключ: продолжает ключ { $key })
author-unknown = автор без профиля на этом узле
fact-key-history = История ключа
fact-trust = Доверие
trust-unverified = Автор не проверен: этот узел не знает этот ключ, и его нет ни в списке разрешённых, ни в списке членов доверенной федерации. Подпись доказывает лишь то, что это написал владелец ключа.
fact-key = Ключ автора
fact-category = Что случилось
fact-severity = Насколько серьёзно
fact-urgency = Когда действовать
fact-certainty = Насколько точно
fact-actions = О чём просят
fact-target = Адресат
fact-deadline = Срок
fact-window = Период действия
fact-conventions = Конвенции МОТ
fact-body = Контрольный орган
fact-countries = Страны
fact-topics = Темы
fact-published = Опубликовано
fact-updated = Обновлено
fact-embargo = Придержано до
fact-expires = Истекает
fact-endorsements = Поддержки
texts-heading =
    { $count ->
        [one] На { $count } языке
       *[other] На { $count } языках
    }
text-translated-by = перевод: { $name }
what-to-do = Что делать:
more-information = Подробнее
history = История
history-published = Опубликовано { $time }, автор: { $name }
history-updated = Обновлено { $time }, автор: { $name }
history-current = (действующая)
endorsements-heading = Поддержки ({ $count })
no-endorsements = Поддержек пока нет.
signatures = Подписи
signatures-note = Каждая версия подписана автором алгоритмом Ed25519; её идентификатор — SHA-256 подписанного текста. Этот узел проверил каждую подпись при получении и ещё раз для этой страницы.
signature-original = Оригинал
signature-update = Обновление
signature-translation = Перевод
signature-valid = подпись верна
signature-invalid = подпись НЕ верна
signature-key = ключ
cap-document = Эта версия в виде документа CAP 1.2
show-full-key = весь ключ

## Ленты

feeds = Ленты:
feed-atom = Atom
feed-cap = Указатель CAP 1.2
feed-calendar = Календарь
feed-calendar-note = (сроки, для вашего календаря)
feeds-signed = Каждая запись подписана написавшей её организацией и проверена этим узлом; на её странице видны подпись и ключ автора.
feed-title = Tocsin: актуальные сообщения и призывы

## Прекращённые ключи

keys-heading = Отозванные и заменённые ключи
keys-note = Организация, чей ключ изъят или утерян, прекращает его: то, что ключ подписал начиная с указанного времени, этот узел придерживает, а подписанное раньше остаётся в силе. Ключ, заменённый с помощью ключа восстановления, передаёт имя организации своему преемнику.
key-rotated = { $mark } с помощью ключа восстановления после компрометации; подписанное им с { $time } придержано
key-revoked = { $mark }; подписанное им с { $time } придержано
key-rotated-mark = заменён
key-revoked-mark = отозван
key-compromised = (по данным замены, скомпрометирован с { $time })
key-successor = Продолжает как { $name } { $key }
key-reason = Причина: { $reason }
key-conflict = Внимание: противоречащее обязательство восстановления, подписанное этим ключом { $time }, на другой ключ восстановления, чем первое: в то время ключом мог владеть кто-то помимо организации.
keys-more =
    { $count ->
        [one] Здесь прекращается ещё { $count } ключ (самые старые не перечислены).
        [few] Здесь прекращаются ещё { $count } ключа (самые старые не перечислены).
        [many] Здесь прекращаются ещё { $count } ключей (самые старые не перечислены).
       *[other] Здесь прекращаются ещё { $count } ключа (самые старые не перечислены).
    }

## Время относительно текущего момента

time-now = только что
time-in-minutes =
    { $count ->
        [one] через { $count } минуту
        [few] через { $count } минуты
        [many] через { $count } минут
       *[other] через { $count } минуты
    }
time-in-hours =
    { $count ->
        [one] через { $count } час
        [few] через { $count } часа
        [many] через { $count } часов
       *[other] через { $count } часа
    }
time-in-days =
    { $count ->
        [one] через { $count } день
        [few] через { $count } дня
        [many] через { $count } дней
       *[other] через { $count } дня
    }
time-minutes-ago =
    { $count ->
        [one] { $count } минуту назад
        [few] { $count } минуты назад
        [many] { $count } минут назад
       *[other] { $count } минуты назад
    }
time-hours-ago =
    { $count ->
        [one] { $count } час назад
        [few] { $count } часа назад
        [many] { $count } часов назад
       *[other] { $count } часа назад
    }
time-days-ago =
    { $count ->
        [one] { $count } день назад
        [few] { $count } дня назад
        [many] { $count } дней назад
       *[other] { $count } дня назад
    }


## Что организации сообщили о сделанном по призыву

reports-heading = Сообщения о действиях
reports-goals = Цели
reports-none = Ни одна организация пока не сообщила.
reports-note = Учитывается последнее подписанное сообщение каждой организации; исправление заменяет прежние цифры.
reports-caption = Сообщившие организации
reports-organisation = Организация
reports-country = Страна
reports-reported = Сообщено
reports-as-of = На дату
reports-statement = Заявление
reports-evidence = Подтверждение
reports-by-country = По странам
reports-organisations = Организации
reports-country-not-given = Не указана
reports-federations = Федерации

## Tallies in words on the pages (the feeds and the command line give them in English)
# $n: the number, for plural forms; $count: it written out with its digits grouped.
tally-letters = { $n ->
        [one] { $count } письмо
        [few] { $count } письма
        [many] { $count } писем
       *[other] { $count } письма
    }
tally-signatures = { $n ->
        [one] { $count } подпись
        [few] { $count } подписи
        [many] { $count } подписей
       *[other] { $count } подписи
    }
tally-participants = { $n ->
        [one] { $count } участник
        [few] { $count } участника
        [many] { $count } участников
       *[other] { $count } участника
    }
tally-strikers = { $n ->
        [one] { $count } бастующий
        [few] { $count } бастующих
        [many] { $count } бастующих
       *[other] { $count } бастующих
    }
tally-donations = { $n ->
       *[other] { $count } { $currency } пожертвований
    }
tally-observations = { $n ->
        [one] { $count } поданное замечание
        [few] { $count } поданных замечания
        [many] { $count } поданных замечаний
       *[other] { $count } поданных замечания
    }
tally-messages = { $n ->
        [one] { $count } сообщение солидарности
        [few] { $count } сообщения солидарности
        [many] { $count } сообщений солидарности
       *[other] { $count } сообщения солидарности
    }
tally-organisations = { $n ->
        [one] { $count } организация
        [few] { $count } организации
        [many] { $count } организаций
       *[other] { $count } организации
    }
tally-reported-by = Отчёты прислали: { $organisations }.
tally-reported-by-totals = Отчёты прислали: { $organisations } — { $totals }.
tally-goal = { $reached } из { $goal } — { $percent }%
tally-roster = { $n ->
       *[other] Члены { $federation }, приславшие отчёт: { $reported } из { $members }
    }
tally-filing = замечание, поданное в { $body } { $date }

## То, что нельзя показать

withdrawn-title = Отозвано
withdrawn-text = Автор отозвал это сообщение. Этот узел больше не отдаёт его содержание.
message-id = Идентификатор:
withdrawn-reason = Причина, указанная автором: { $reason }
withheld-title = Придержано
withheld-text = Это сообщение подписано ключом организации { $name } ({ $key }), который больше не в её руках. Этот узел его придерживает: { $why }.
withheld-text-since = Это сообщение подписано ключом организации { $name } ({ $key }), который не в её руках с { $date }. Этот узел его придерживает: { $why }.
withheld-not-served = Его содержание не отдаётся.
not-found-title = Не найдено
not-found-address = По этому адресу ничего нет.
not-found-message = На этом узле нет актуального сообщения или призыва с таким идентификатором.
bad-request-title = Неверный запрос
bad-request-text = Этот адрес запрашивает то, что страница не может показать: { $problem }.
