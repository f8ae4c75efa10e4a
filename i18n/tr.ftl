# Web geçidinin kendi sözcükleri, Türkçe. Anahtarlar ve { $değişkenler } en.ftl'dekilerle
# aynıdır (ne olduklarını orada yorumlar anlatır). Türkçede sayıdan sonra ad tekil kalır:
# "3 gün önce"; bu yüzden çoğul seçimi gerekmez.

## Her sayfanın çerçevesi

site-tagline = Dayanışma uyarıları ve eylem çağrıları, onları yazan sendikalarca imzalanmış.
skip-to-content = İçeriğe geç
index-title = Tocsin: güncel uyarılar ve eylem çağrıları
all-current = Tüm güncel uyarılar ve çağrılar
this-node = Bu düğüm:

## Dil seçimi

switcher-label = Okuma dili
read-in = Şu dilde oku:
browser-language = tarayıcınızın dili

## Süzgeçler

filters-label = Uyarıları ve çağrıları süz
filter-kind = Tür
filter-kind-any = Uyarılar ve çağrılar
filter-kind-alert = Uyarılar
filter-kind-call = Eylem çağrıları
filter-country = Ülke
filter-country-any = Tüm ülkeler
filter-topic = Konu
filter-topic-any = Tüm konular
filter-language = Mevcut dil
filter-language-any = Herhangi bir dil
filter-authors = Yazarlar
filter-authors-any = Önce güvenilenler
filter-authors-trusted = Yalnızca güvenilenler
filter-authors-unverified = Yalnızca doğrulanmamışlar
filter-show = Göster
filter-clear = Süzgeçleri temizle

## Sayfa kaç öğe gösteriyor

count-none-filtered = Bu süzgeçlere uyan güncel bir uyarı ya da çağrı yok.
count-none = Güncel uyarı ya da çağrı yok.
count-all = { $total } güncel uyarı ve çağrı, en yenisi önce.
count-trusted-first = { $total } güncel uyarı ve çağrıdan { $shown } tanesi: önce güvenilen yazarlarınkiler.
count-newest = { $total } güncel uyarı ve çağrının en yeni { $shown } tanesi.
count-many = En az { $total } güncel uyarı ve çağrının en yeni { $shown } tanesi.
unverified-hidden-many = En az { $count } öğe daha burada gösterilmiyor: { $link }.
unverified-note = { $badge } işaretli öğeler, bu düğümün tanımadığı ve hiçbir güvenilir listede adı geçmeyen anahtarlarla imzalanmıştır; diğerlerinden sonra gelirler.
unverified-hidden = { $count } öğe daha burada gösterilmiyor: { $link }.
unverified-show = doğrulanmamış yazarların öğelerini göster

## Rozetler ve etiketler

badge-unverified = Doğrulanmamış yazar
kind-alert = Uyarı
kind-call = Eylem çağrısı
severity-extreme = Çok büyük tehlike
severity-severe = Ciddi
severity-moderate = Orta
severity-minor = Hafif
severity-unknown = Ciddiyeti bilinmiyor
status-exercise = Tatbikat
status-test = Yalnızca deneme
category-arrest = Gözaltı
category-dismissal = İşten çıkarma
category-strike = Grev
category-lockout = Lokavt
category-violence = Şiddet
category-safety = İş güvenliği
category-legislation = Mevzuat
category-union-busting = Sendika düşmanlığı
category-other = Diğer
action-petition = Dilekçe imzala
action-letter = Mektup yaz
action-protest = Protestoya katıl
action-strike = Dayanışma grevi
action-boycott = Boykot et
action-donation = Bağış yap
action-ilo-observation = ILO'ya gözlem sun
action-solidarity-message = Dayanışma mesajı gönder
action-other = Başka bir eylem
body-ceacr = ILO Uzmanlar Komitesi (CEACR)
body-cas = ILO Konferansı Standartların Uygulanması Komitesi (CAS)
body-cfa = ILO Sendika Özgürlüğü Komitesi (CFA)
body-other = Başka bir kurul
urgency-immediate = Hemen harekete geçin
urgency-expected = Yakında harekete geçin
urgency-future = Önümüzdeki günlerde harekete geçin
urgency-past = Artık bir şey yapmak gerekmiyor
certainty-observed = Doğrulandı
certainty-likely = Olası
certainty-possible = Mümkün
certainty-unlikely = Pek olası değil

## Ana sayfada bir öğe

item-by = Yazan: { $name }
item-updated = güncellendi: { $time }
item-what-to-do = Ne yapmalı:
item-asked = İstenen:
item-addressed-to = Muhatap:
item-deadline = Son tarih:
item-window = Eylem dönemi:
item-from = Eylem başlangıcı:
item-until = Eylem bitişi:
item-in-language = Dil: { $language }.
item-in-language-translated = Dil: { $language }, çeviri.
item-translated-by = Çeviren: { $name }.
endorsements =
    { $count ->
        [0] Henüz destek yok
       *[other] { $count } destek
    }
item-details = Ayrıntılar
item-details-of = ({ $headline })
this-item = bu öğe

## Bir mesajın tamamı

fact-author = Kimden
author-roster = { $name } ({ $federation } üye listesindeki adıyla)
author-successor = { $name } (yeni anahtarı: { $key } anahtarının yerini alır)
author-unknown = bu düğümde profili olmayan bir yazar
fact-key-history = Anahtar geçmişi
fact-trust = Güven
trust-unverified = Doğrulanmamış yazar: bu düğüm bu anahtarı tanımıyor; ne izin listesinde ne de güvenilen bir federasyonun üye listesinde adı geçiyor. İmza yalnızca bunu anahtarın sahibinin yazdığını kanıtlar.
fact-key = Yazarın anahtarı
fact-category = Ne oldu
fact-severity = Ne kadar ciddi
fact-urgency = Ne zaman harekete geçmeli
fact-certainty = Ne kadar kesin
fact-actions = İstenen
fact-target = Muhatap
fact-deadline = Son tarih
fact-window = Eylem dönemi
fact-conventions = ILO sözleşmeleri
fact-body = Denetim organı
fact-countries = Ülkeler
fact-topics = Konular
fact-published = Yayımlandı
fact-updated = Güncellendi
fact-embargo = Şu zamana kadar bekletildi
fact-expires = Geçerlilik sonu
fact-endorsements = Destekler
texts-heading = { $count } dilde
text-translated-by = çeviren: { $name }
what-to-do = Ne yapmalı:
more-information = Daha fazla bilgi
history = Geçmiş
history-published = { $time } yayımlandı, yazan: { $name }
history-updated = { $time } güncellendi, yazan: { $name }
history-current = (geçerli)
endorsements-heading = Destekler ({ $count })
no-endorsements = Henüz destek yok.
signatures = İmzalar
signatures-note = Her sürüm yazarı tarafından Ed25519 ile imzalanmıştır; kimliği imzalı metnin SHA-256 özetidir. Bu düğüm her imzayı geldiğinde ve bu sayfa için yeniden doğruladı.
signature-original = Özgün
signature-update = Güncelleme
signature-translation = Çeviri
signature-valid = geçerli imza
signature-invalid = imza DOĞRULANMIYOR
signature-key = anahtar
cap-document = Bu sürüm CAP 1.2 belgesi olarak
show-full-key = anahtarın tamamı

## Akışlar

feeds = Akışlar:
feed-atom = Atom
feed-cap = CAP 1.2 dizini
feed-calendar = Takvim
feed-calendar-note = (son tarihler, takvim uygulamanız için)
feeds-signed = Her öğe onu yazan örgütçe imzalanmış ve bu düğümce doğrulanmıştır; sayfası imzayı ve yazarın anahtarını gösterir.
feed-title = Tocsin: güncel uyarılar ve çağrılar

## Sona eren anahtarlar

keys-heading = İptal edilen ve değiştirilen anahtarlar
keys-note = Anahtarına el konulan ya da anahtarını kaybeden bir örgüt onu sona erdirir: anahtarın belirtilen zamandan itibaren imzaladıkları bu düğümce bekletilir, önceden imzaladıkları geçerli kalır. Kurtarma anahtarıyla değiştirilen bir anahtar, örgütün adını yerine gelene devreder.
key-rotated = ele geçirilmenin ardından kurtarma anahtarıyla { $mark }; { $time } itibarıyla imzaladıkları bekletiliyor
key-revoked = { $mark }; { $time } itibarıyla imzaladıkları bekletiliyor
key-rotated-mark = değiştirildi
key-revoked-mark = iptal edildi
key-compromised = (değişikliğe göre { $time } itibarıyla ele geçirilmiş)
key-successor = { $name } { $key } olarak sürüyor
key-reason = Gerekçe: { $reason }
key-conflict = Uyarı: bu anahtarla { $time } tarihinde, ilkinden farklı bir kurtarma anahtarına çelişkili bir kurtarma taahhüdü imzalandı: anahtar o sırada örgüt dışından birinin elinde olabilir.
keys-more = { $count } anahtar daha burada sona eriyor (en eskileri listelenmedi).

## Şimdiye göre zamanlar

time-now = az önce
time-in-minutes = { $count } dakika sonra
time-in-hours = { $count } saat sonra
time-in-days = { $count } gün sonra
time-minutes-ago = { $count } dakika önce
time-hours-ago = { $count } saat önce
time-days-ago = { $count } gün önce


## Örgütlerin bir çağrı için yaptıklarını bildirdikleri

reports-heading = Bildirilen eylemler
reports-goals = Hedefler
reports-none = Henüz hiçbir örgüt bildirimde bulunmadı.
reports-note = Her örgütün imzalı son bildirimi sayılır; bir düzeltme önceki rakamların yerini alır.
reports-caption = Bildirimde bulunan örgütler
reports-organisation = Örgüt
reports-country = Ülke
reports-reported = Bildirilen
reports-as-of = Tarih
reports-statement = Açıklama
reports-evidence = Kanıt
reports-by-country = Ülkelere göre
reports-organisations = Örgütler
reports-country-not-given = Belirtilmemiş
reports-federations = Federasyonlar

## Tallies in words on the pages (the feeds and the command line give them in English)
# $n: the number, for plural forms; $count: it written out with its digits grouped.
tally-letters = { $n ->
       *[other] { $count } mektup
    }
tally-signatures = { $n ->
       *[other] { $count } imza
    }
tally-participants = { $n ->
       *[other] { $count } katılımcı
    }
tally-strikers = { $n ->
       *[other] { $count } grevci
    }
tally-donations = { $n ->
       *[other] { $count } { $currency } bağış
    }
tally-observations = { $n ->
       *[other] { $count } sunulan gözlem
    }
tally-messages = { $n ->
       *[other] { $count } dayanışma mesajı
    }
tally-organisations = { $n ->
       *[other] { $count } örgüt
    }
tally-reported-by = { $organisations } rapor verdi.
tally-reported-by-totals = { $organisations } rapor verdi: { $totals }.
tally-goal = { $reached } / { $goal } — %{ $percent }
tally-roster = { $n ->
       *[other] { $federation } üyelerinden rapor verenler: { $reported } / { $members }
    }
tally-filing = { $body } kuruluşuna { $date } tarihinde sunulan gözlem

## Gösterilemeyenler

withdrawn-title = Geri çekildi
withdrawn-text = Yazar bu mesajı geri çekti. İçeriği artık bu düğüm tarafından sunulmuyor.
message-id = Kimlik:
withdrawn-reason = Yazarın gerekçesi: { $reason }
withheld-title = Bekletiliyor
withheld-text = Bu mesaj, artık { $name } örgütünün elinde olmayan anahtarla ({ $key }) imzalandı. Bu düğüm onu bekletiyor: { $why }.
withheld-text-since = Bu mesaj, { $date } tarihinden beri { $name } örgütünün elinde olmayan anahtarla ({ $key }) imzalandı. Bu düğüm onu bekletiyor: { $why }.
withheld-not-served = İçeriği sunulmuyor.
not-found-title = Bulunamadı
not-found-address = Bu adreste hiçbir şey yok.
not-found-message = Bu düğüm bu kimlikle güncel bir uyarı ya da çağrı göstermiyor.
bad-request-title = Geçersiz istek
bad-request-text = Bu adres sayfanın gösteremeyeceği bir şey istiyor: { $problem }.
