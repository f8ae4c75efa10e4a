# Les mots de la passerelle web, en français. Les clés et les { $variables } sont celles de
# en.ftl (voir ses commentaires : ce que chaque message est et ce que ses variables contiennent).

## Le cadre de chaque page

site-tagline = Alertes de solidarité et appels à l’action, signés par les syndicats qui les ont écrits.
skip-to-content = Aller au contenu
index-title = Tocsin : alertes et appels à l’action en cours
all-current = Toutes les alertes et tous les appels en cours
this-node = Ce nœud :

## Le choix de la langue

switcher-label = Langue de lecture
read-in = Lire en :
browser-language = la langue de votre navigateur

## Les filtres

filters-label = Filtrer les alertes et les appels
filter-kind = Type
filter-kind-any = Alertes et appels
filter-kind-alert = Alertes
filter-kind-call = Appels à l’action
filter-country = Pays
filter-country-any = Tous les pays
filter-topic = Sujet
filter-topic-any = Tous les sujets
filter-language = Disponible en
filter-language-any = Toutes les langues
filter-authors = Auteurs
filter-authors-any = De confiance d’abord
filter-authors-trusted = De confiance seulement
filter-authors-unverified = Non vérifiés seulement
filter-show = Afficher
filter-clear = Effacer les filtres

## Combien d’éléments la page montre

count-none-filtered = Aucune alerte ni aucun appel en cours ne correspond à ces filtres.
count-none = Aucune alerte ni aucun appel en cours.
count-all =
    { $total ->
        [one] { $total } alerte ou appel en cours.
       *[other] { $total } alertes et appels en cours, les plus récents d’abord.
    }
count-trusted-first = { $shown } sur { $total } alertes et appels en cours : ceux des auteurs de confiance d’abord.
count-newest = Les { $shown } plus récents sur { $total } alertes et appels en cours.
count-many = Les { $shown } plus récents sur au moins { $total } alertes et appels en cours.
unverified-hidden-many = Au moins { $count } autres ne sont pas affichés ici : { $link }.
unverified-note = Les éléments marqués { $badge } sont signés par des clés que ce nœud ne connaît pas et qu’aucune liste de confiance ne nomme ; ils viennent après les autres.
unverified-hidden =
    { $count ->
        [one] { $count } autre n’est pas affiché ici : { $link }.
       *[other] { $count } autres ne sont pas affichés ici : { $link }.
    }
unverified-show = afficher les éléments d’auteurs non vérifiés

## Badges et libellés

badge-unverified = Auteur non vérifié
kind-alert = Alerte
kind-call = Appel à l’action
severity-extreme = Danger extrême
severity-severe = Grave
severity-moderate = Modéré
severity-minor = Mineur
severity-unknown = Gravité inconnue
status-exercise = Exercice
status-test = Test seulement
category-arrest = Arrestation
category-dismissal = Licenciement
category-strike = Grève
category-lockout = Lock-out
category-violence = Violence
category-safety = Sécurité au travail
category-legislation = Législation
category-union-busting = Répression antisyndicale
category-other = Autre
action-petition = Signer une pétition
action-letter = Écrire une lettre
action-protest = Manifester
action-strike = Grève de solidarité
action-boycott = Boycotter
action-donation = Faire un don
action-ilo-observation = Déposer des observations auprès de l’OIT
action-solidarity-message = Envoyer un message de solidarité
action-other = Autre action
body-ceacr = Commission d’experts de l’OIT (CEACR)
body-cas = Commission de l’application des normes de la Conférence de l’OIT (CAS)
body-cfa = Comité de la liberté syndicale de l’OIT (CLS)
body-other = Un autre organe
urgency-immediate = Agir maintenant
urgency-expected = Agir bientôt
urgency-future = Agir dans les prochains jours
urgency-past = Plus besoin d’agir
certainty-observed = Confirmé
certainty-likely = Probable
certainty-possible = Possible
certainty-unlikely = Peu probable

## Un élément de la page d’accueil

item-by = Par { $name }
item-updated = mis à jour { $time }
item-what-to-do = Que faire :
item-asked = Demandé :
item-addressed-to = Adressé à :
item-deadline = Date limite :
item-window = Période d’action :
item-from = Action à partir du :
item-until = Action jusqu’au :
item-in-language = En { $language }.
item-in-language-translated = En { $language }, traduit.
item-translated-by = Traduit par { $name }.
endorsements =
    { $count ->
        [0] Aucun soutien pour l’instant
        [one] { $count } soutien
       *[other] { $count } soutiens
    }
item-details = Détails
item-details-of = de { $headline }
this-item = cet élément

## Un message en entier

fact-author = De
author-roster = { $name } (nommé ainsi dans la liste des membres de { $federation })
author-successor = { $name } (sa nouvelle clé : elle prend la suite de { $key })
author-unknown = un auteur sans profil sur ce nœud
fact-key-history = Historique de la clé
fact-trust = Confiance
trust-unverified = Auteur non vérifié : ce nœud ne connaît pas cette clé, et ni sa liste d’autorisation ni la liste des membres d’une fédération de confiance ne la nomme. La signature prouve seulement que le détenteur de la clé a écrit ceci.
fact-key = Clé de l’auteur
fact-category = Ce qui s’est passé
fact-severity = Gravité
fact-urgency = Quand agir
fact-certainty = Certitude
fact-actions = Ce qui est demandé
fact-target = Adressé à
fact-deadline = Date limite
fact-window = Période d’action
fact-conventions = Conventions de l’OIT
fact-body = Organe de contrôle
fact-countries = Pays
fact-topics = Sujets
fact-published = Publié
fact-updated = Mis à jour
fact-embargo = Retenu jusqu’au
fact-expires = Expire
fact-endorsements = Soutiens
texts-heading =
    { $count ->
        [one] En { $count } langue
       *[other] En { $count } langues
    }
text-translated-by = traduit par { $name }
what-to-do = Que faire :
more-information = Plus d’informations
history = Historique
history-published = Publié { $time } par { $name }
history-updated = Mis à jour { $time } par { $name }
history-current = (en vigueur)
endorsements-heading = Soutiens ({ $count })
no-endorsements = Aucun soutien pour l’instant.
signatures = Signatures
signatures-note = Chaque version est signée avec Ed25519 par son auteur ; son identifiant est le SHA-256 du texte signé. Ce nœud a vérifié chaque signature à son arrivée, et de nouveau pour cette page.
signature-original = Original
signature-update = Mise à jour
signature-translation = Traduction
signature-valid = signature valide
signature-invalid = la signature N’EST PAS valide
signature-key = clé
cap-document = Cette version en document CAP 1.2
show-full-key = clé entière

## Flux

feeds = Flux :
feed-atom = Atom
feed-cap = Index CAP 1.2
feed-calendar = Calendrier
feed-calendar-note = (les dates limites, pour votre agenda)
feeds-signed = Chaque élément est signé par l’organisation qui l’a écrit et vérifié par ce nœud ; sa page montre la signature et la clé de l’auteur.
feed-title = Tocsin : alertes et appels en cours

## Clés terminées

keys-heading = Clés révoquées et remplacées
keys-note = Une organisation dont la clé a été saisie ou perdue y met fin : ce que la clé a signé à partir du moment indiqué est retenu par ce nœud, et ce qu’elle a signé avant reste valable. Une clé remplacée au moyen de sa clé de secours transmet le nom de l’organisation à celle qui lui succède.
key-rotated = { $mark } au moyen de sa clé de secours après une compromission ; ce qu’elle a signé à partir du { $time } est retenu
key-revoked = { $mark } ; ce qu’elle a signé à partir du { $time } est retenu
key-rotated-mark = remplacée
key-revoked-mark = révoquée
key-compromised = (le remplacement la dit compromise depuis le { $time })
key-successor = Continue sous { $name } { $key }
key-reason = Motif : { $reason }
key-conflict = Attention : engagement de secours contradictoire signé avec cette clé le { $time }, envers une autre clé de secours que la première : quelqu’un d’autre que l’organisation a pu détenir la clé à ce moment-là.
keys-more =
    { $count ->
        [one] { $count } autre clé se termine ici (la plus ancienne n’est pas listée).
       *[other] { $count } autres clés se terminent ici (les plus anciennes ne sont pas listées).
    }

## Les temps, par rapport à maintenant

time-now = à l’instant
time-in-minutes =
    { $count ->
        [one] dans { $count } minute
       *[other] dans { $count } minutes
    }
time-in-hours =
    { $count ->
        [one] dans { $count } heure
       *[other] dans { $count } heures
    }
time-in-days =
    { $count ->
        [one] dans { $count } jour
       *[other] dans { $count } jours
    }
time-minutes-ago =
    { $count ->
        [one] il y a { $count } minute
       *[other] il y a { $count } minutes
    }
time-hours-ago =
    { $count ->
        [one] il y a { $count } heure
       *[other] il y a { $count } heures
    }
time-days-ago =
    { $count ->
        [one] il y a { $count } jour
       *[other] il y a { $count } jours
    }


## Ce que les organisations disent avoir fait pour un appel

reports-heading = Actions signalées
reports-goals = Objectifs
reports-none = Aucune organisation n’a encore fait de signalement.
reports-note = Le dernier signalement signé de chaque organisation compte ; une révision remplace ses chiffres précédents.
reports-caption = Organisations ayant fait un signalement
reports-organisation = Organisation
reports-country = Pays
reports-reported = Signalé
reports-as-of = À la date du
reports-statement = Déclaration
reports-evidence = Preuve
reports-by-country = Par pays
reports-organisations = Organisations
reports-country-not-given = Non indiqué
reports-federations = Fédérations

## Tallies in words on the pages (the feeds and the command line give them in English)
# $n: the number, for plural forms; $count: it written out with its digits grouped.
tally-letters = { $n ->
        [one] { $count } lettre
       *[other] { $count } lettres
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
        [one] { $count } gréviste
       *[other] { $count } grévistes
    }
tally-donations = { $n ->
       *[other] { $count } { $currency } de dons
    }
tally-observations = { $n ->
        [one] { $count } observation déposée
       *[other] { $count } observations déposées
    }
tally-messages = { $n ->
        [one] { $count } message de solidarité
       *[other] { $count } messages de solidarité
    }
tally-organisations = { $n ->
        [one] { $count } organisation
       *[other] { $count } organisations
    }
tally-reported-by = Signalé par { $organisations }.
tally-reported-by-totals = Signalé par { $organisations } : { $totals }.
tally-goal = { $reached } sur { $goal } — { $percent } %
tally-roster = { $n ->
       *[other] Affiliés de { $federation } ayant fait rapport : { $reported } sur { $members }
    }
tally-filing = observation déposée auprès de la { $body } le { $date }

## Ce qui ne peut pas être montré

withdrawn-title = Retiré
withdrawn-text = L’auteur a retiré ce message. Son contenu n’est plus servi par ce nœud.
message-id = Identifiant :
withdrawn-reason = La raison de l’auteur : { $reason }
withheld-title = Retenu
withheld-text = Ce message a été signé avec la clé de { $name } ({ $key }), qui n’est plus entre ses mains. Ce nœud le retient : { $why }.
withheld-text-since = Ce message a été signé avec la clé de { $name } ({ $key }), qui n’est plus entre ses mains depuis le { $date }. Ce nœud le retient : { $why }.
withheld-not-served = Son contenu n’est pas servi.
not-found-title = Introuvable
not-found-address = Il n’y a rien à cette adresse.
not-found-message = Ce nœud ne montre aucune alerte ni aucun appel en cours avec cet identifiant.
bad-request-title = Requête invalide
bad-request-text = Cette adresse demande quelque chose que la page ne peut pas montrer : { $problem }.
