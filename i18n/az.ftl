# Veb şlüzün öz sözləri, Azərbaycan dilində. Açarlar və { $dəyişənlər } en.ftl-dəkilərlə eynidir
# (nə olduqlarını oradakı şərhlər izah edir). Azərbaycan dilində saydan sonra isim tək qalır:
# "3 gün əvvəl"; ona görə cəm seçiminə ehtiyac yoxdur.

## Hər səhifənin çərçivəsi

site-tagline = Həmrəylik xəbərdarlıqları və fəaliyyət çağırışları, onları yazan həmkarlar ittifaqlarının imzası ilə.
skip-to-content = Məzmuna keç
index-title = Tocsin: aktual xəbərdarlıqlar və fəaliyyət çağırışları
all-current = Bütün aktual xəbərdarlıqlar və çağırışlar
this-node = Bu qovşaq:

## Dil seçimi

switcher-label = Oxu dili
read-in = Bu dildə oxu:
browser-language = brauzerinizin dili

## Filtrlər

filters-label = Xəbərdarlıqları və çağırışları filtrlə
filter-kind = Növ
filter-kind-any = Xəbərdarlıqlar və çağırışlar
filter-kind-alert = Xəbərdarlıqlar
filter-kind-call = Fəaliyyət çağırışları
filter-country = Ölkə
filter-country-any = Bütün ölkələr
filter-topic = Mövzu
filter-topic-any = Bütün mövzular
filter-language = Mövcud dil
filter-language-any = İstənilən dil
filter-authors = Müəlliflər
filter-authors-any = Əvvəlcə etibarlılar
filter-authors-trusted = Yalnız etibarlılar
filter-authors-unverified = Yalnız təsdiqlənməmişlər
filter-show = Göstər
filter-clear = Filtrləri təmizlə

## Səhifə neçə element göstərir

count-none-filtered = Bu filtrlərə uyğun aktual xəbərdarlıq və ya çağırış yoxdur.
count-none = Aktual xəbərdarlıq və ya çağırış yoxdur.
count-all = { $total } aktual xəbərdarlıq və çağırış, ən yenisi əvvəldə.
count-trusted-first = { $total } aktual xəbərdarlıq və çağırışdan { $shown }: əvvəlcə etibarlı müəlliflərinki.
count-newest = { $total } aktual xəbərdarlıq və çağırışın ən yeni { $shown }.
count-many = Ən azı { $total } aktual xəbərdarlıq və çağırışın ən yeni { $shown }.
unverified-hidden-many = Ən azı { $count } element daha burada göstərilmir: { $link }.
unverified-note = { $badge } işarəli elementlər bu qovşağın tanımadığı və heç bir etibarlı siyahının adını çəkmədiyi açarlarla imzalanıb; onlar digərlərindən sonra gəlir.
unverified-hidden = Daha { $count } element burada göstərilmir: { $link }.
unverified-show = təsdiqlənməmiş müəlliflərin elementlərini göstər

## Nişanlar və etiketlər

badge-unverified = Təsdiqlənməmiş müəllif
kind-alert = Xəbərdarlıq
kind-call = Fəaliyyət çağırışı
severity-extreme = Son dərəcə təhlükəli
severity-severe = Ciddi
severity-moderate = Orta
severity-minor = Yüngül
severity-unknown = Ciddiliyi bilinmir
status-exercise = Təlim
status-test = Yalnız sınaq
category-arrest = Həbs
category-dismissal = İşdən çıxarılma
category-strike = Tətil
category-lockout = Lokaut
category-violence = Zorakılıq
category-safety = Əməyin təhlükəsizliyi
category-legislation = Qanunvericilik
category-union-busting = Həmkarlar ittifaqına qarşı təzyiq
category-other = Digər
action-petition = Petisiya imzala
action-letter = Məktub yaz
action-protest = Etiraza qoşul
action-strike = Həmrəylik tətili
action-boycott = Boykot et
action-donation = İanə et
action-ilo-observation = BƏT-ə müşahidələr təqdim et
action-solidarity-message = Həmrəylik mesajı göndər
action-other = Başqa fəaliyyət
body-ceacr = BƏT Ekspertlər Komitəsi (CEACR)
body-cas = BƏT Konfransının Standartların Tətbiqi Komitəsi (CAS)
body-cfa = BƏT Birləşmək Azadlığı Komitəsi (CFA)
body-other = Başqa orqan
urgency-immediate = İndi hərəkətə keçin
urgency-expected = Tezliklə hərəkətə keçin
urgency-future = Yaxın günlərdə hərəkətə keçin
urgency-past = Artıq hərəkət tələb olunmur
certainty-observed = Təsdiqlənib
certainty-likely = Ehtimal olunur
certainty-possible = Mümkündür
certainty-unlikely = Az ehtimal olunur

## Ana səhifədə bir element

item-by = Müəllif: { $name }
item-updated = yeniləndi: { $time }
item-what-to-do = Nə etməli:
item-asked = Tələb olunur:
item-addressed-to = Ünvanlanıb:
item-deadline = Son tarix:
item-window = Fəaliyyət dövrü:
item-from = Fəaliyyətin başlanğıcı:
item-until = Fəaliyyətin sonu:
item-in-language = Dil: { $language }.
item-in-language-translated = Dil: { $language }, tərcümə.
item-translated-by = Tərcüməçi: { $name }.
endorsements =
    { $count ->
        [0] Hələ dəstək yoxdur
       *[other] { $count } dəstək
    }
item-details = Ətraflı
item-details-of = ({ $headline })
this-item = bu element

## Mesajın tam mətni

fact-author = Kimdən
author-roster = { $name } ({ $federation } üzvlər siyahısındakı adı ilə)
author-successor = { $name } (yeni açarı: { $key } açarının yerini tutur)
author-unknown = bu qovşaqda profili olmayan müəllif
fact-key-history = Açarın tarixçəsi
fact-trust = Etibar
trust-unverified = Təsdiqlənməmiş müəllif: bu qovşaq bu açarı tanımır; nə icazə siyahısında, nə də etibarlı federasiyanın üzvlər siyahısında adı yoxdur. İmza yalnız bunu açarın sahibinin yazdığını sübut edir.
fact-key = Müəllifin açarı
fact-category = Nə baş verib
fact-severity = Nə qədər ciddidir
fact-urgency = Nə vaxt hərəkətə keçməli
fact-certainty = Nə qədər dəqiqdir
fact-actions = Nə tələb olunur
fact-target = Ünvanlanıb
fact-deadline = Son tarix
fact-window = Fəaliyyət dövrü
fact-conventions = BƏT konvensiyaları
fact-body = Nəzarət orqanı
fact-countries = Ölkələr
fact-topics = Mövzular
fact-published = Dərc olunub
fact-updated = Yenilənib
fact-embargo = Bu vaxtadək saxlanılıb
fact-expires = Qüvvədən düşür
fact-endorsements = Dəstəklər
texts-heading = { $count } dildə
text-translated-by = tərcüməçi: { $name }
what-to-do = Nə etməli:
more-information = Ətraflı məlumat
history = Tarixçə
history-published = { $time } dərc olunub, müəllif: { $name }
history-updated = { $time } yenilənib, müəllif: { $name }
history-current = (qüvvədə olan)
endorsements-heading = Dəstəklər ({ $count })
no-endorsements = Hələ dəstək yoxdur.
signatures = İmzalar
signatures-note = Hər versiya müəllifi tərəfindən Ed25519 ilə imzalanıb; identifikatoru imzalanmış mətnin SHA-256 həşidir. Bu qovşaq hər imzanı gələndə və bu səhifə üçün yenidən yoxladı.
signature-original = Orijinal
signature-update = Yeniləmə
signature-translation = Tərcümə
signature-valid = etibarlı imza
signature-invalid = imza TƏSDİQLƏNMİR
signature-key = açar
cap-document = Bu versiya CAP 1.2 sənədi kimi
show-full-key = açarın tamamı

## Lentlər

feeds = Lentlər:
feed-atom = Atom
feed-cap = CAP 1.2 indeksi
feed-calendar = Təqvim
feed-calendar-note = (son tarixlər, təqvim tətbiqiniz üçün)
feeds-signed = Hər element onu yazan təşkilat tərəfindən imzalanıb və bu qovşaq tərəfindən yoxlanılıb; onun səhifəsi imzanı və müəllifin açarını göstərir.
feed-title = Tocsin: aktual xəbərdarlıqlar və çağırışlar

## Bitmiş açarlar

keys-heading = Ləğv edilmiş və dəyişdirilmiş açarlar
keys-note = Açarı müsadirə olunan və ya itən təşkilat ona son qoyur: açarın göstərilən vaxtdan etibarən imzaladıqlarını bu qovşaq saxlayır, əvvəl imzaladıqları qüvvədə qalır. Bərpa açarı ilə dəyişdirilən açar təşkilatın adını öz varisinə ötürür.
key-rotated = ələ keçirildikdən sonra bərpa açarı ilə { $mark }; { $time } tarixindən imzaladıqları saxlanılır
key-revoked = { $mark }; { $time } tarixindən imzaladıqları saxlanılır
key-rotated-mark = dəyişdirilib
key-revoked-mark = ləğv edilib
key-compromised = (dəyişikliyə görə { $time } tarixindən ələ keçirilib)
key-successor = { $name } { $key } kimi davam edir
key-reason = Səbəb: { $reason }
key-conflict = Diqqət: bu açarla { $time } tarixində ilkindən fərqli bərpa açarına ziddiyyətli bərpa öhdəliyi imzalanıb: açar o vaxt təşkilatdan başqa birinin əlində ola bilərdi.
keys-more = Daha { $count } açar burada bitir (ən köhnələri sadalanmayıb).

## İndiyə nisbətən vaxt

time-now = indicə
time-in-minutes = { $count } dəqiqə sonra
time-in-hours = { $count } saat sonra
time-in-days = { $count } gün sonra
time-minutes-ago = { $count } dəqiqə əvvəl
time-hours-ago = { $count } saat əvvəl
time-days-ago = { $count } gün əvvəl


## Təşkilatların çağırış üçün etdiklərini bildirdikləri

reports-heading = Bildirilən fəaliyyətlər
reports-goals = Məqsədlər
reports-none = Hələ heç bir təşkilat bildiriş verməyib.
reports-note = Hər təşkilatın son imzalı bildirişi sayılır; düzəliş əvvəlki rəqəmləri əvəz edir.
reports-caption = Bildiriş verən təşkilatlar
reports-organisation = Təşkilat
reports-country = Ölkə
reports-reported = Bildirilib
reports-as-of = Tarix
reports-statement = Bəyanat
reports-evidence = Sübut
reports-by-country = Ölkələr üzrə
reports-organisations = Təşkilatlar
reports-country-not-given = Göstərilməyib
reports-federations = Federasiyalar

## Tallies in words on the pages (the feeds and the command line give them in English)
# $n: the number, for plural forms; $count: it written out with its digits grouped.
tally-letters = { $n ->
       *[other] { $count } məktub
    }
tally-signatures = { $n ->
       *[other] { $count } imza
    }
tally-participants = { $n ->
       *[other] { $count } iştirakçı
    }
tally-strikers = { $n ->
       *[other] { $count } tətilçi
    }
tally-donations = { $n ->
       *[other] { $count } { $currency } ianə
    }
tally-observations = { $n ->
       *[other] { $count } təqdim edilmiş müşahidə
    }
tally-messages = { $n ->
       *[other] { $count } həmrəylik mesajı
    }
tally-organisations = { $n ->
       *[other] { $count } təşkilat
    }
tally-reported-by = { $organisations } hesabat verdi.
tally-reported-by-totals = { $organisations } hesabat verdi: { $totals }.
tally-goal = { $reached } / { $goal } — { $percent }%
tally-roster = { $n ->
       *[other] { $federation } üzvlərindən hesabat verənlər: { $reported } / { $members }
    }
tally-filing = { $body } qurumuna { $date } tarixində təqdim edilmiş müşahidə

## Göstərilə bilməyənlər

withdrawn-title = Geri götürülüb
withdrawn-text = Müəllif bu mesajı geri götürüb. Onun məzmunu artıq bu qovşaq tərəfindən təqdim olunmur.
message-id = İdentifikator:
withdrawn-reason = Müəllifin səbəbi: { $reason }
withheld-title = Saxlanılır
withheld-text = Bu mesaj artıq { $name } təşkilatının əlində olmayan açarla ({ $key }) imzalanıb. Bu qovşaq onu saxlayır: { $why }.
withheld-text-since = Bu mesaj { $date } tarixindən bəri { $name } təşkilatının əlində olmayan açarla ({ $key }) imzalanıb. Bu qovşaq onu saxlayır: { $why }.
withheld-not-served = Onun məzmunu təqdim olunmur.
not-found-title = Tapılmadı
not-found-address = Bu ünvanda heç nə yoxdur.
not-found-message = Bu qovşaq bu identifikatorla aktual xəbərdarlıq və ya çağırış göstərmir.
bad-request-title = Yanlış sorğu
bad-request-text = Bu ünvan səhifənin göstərə bilmədiyi bir şey istəyir: { $problem }.
