# Las palabras de la pasarela web, en español. Las claves y las { $variables } son las de
# en.ftl (ver sus comentarios: qué es cada mensaje y qué contienen sus variables).

## El marco de cada página

site-tagline = Alertas de solidaridad y llamamientos a la acción, firmados por los sindicatos que los escribieron.
skip-to-content = Ir al contenido
index-title = Tocsin: alertas y llamamientos a la acción vigentes
all-current = Todas las alertas y los llamamientos vigentes
this-node = Este nodo:

## El selector de idioma

switcher-label = Idioma de lectura
read-in = Leer en:
browser-language = el idioma de su navegador

## Los filtros

filters-label = Filtrar alertas y llamamientos
filter-kind = Tipo
filter-kind-any = Alertas y llamamientos
filter-kind-alert = Alertas
filter-kind-call = Llamamientos a la acción
filter-country = País
filter-country-any = Todos los países
filter-topic = Tema
filter-topic-any = Todos los temas
filter-language = Disponible en
filter-language-any = Cualquier idioma
filter-authors = Autores
filter-authors-any = Los de confianza primero
filter-authors-trusted = Solo de confianza
filter-authors-unverified = Solo no verificados
filter-show = Mostrar
filter-clear = Quitar filtros

## Cuántos elementos muestra la página

count-none-filtered = Ninguna alerta ni llamamiento vigente coincide con estos filtros.
count-none = No hay alertas ni llamamientos vigentes.
count-all =
    { $total ->
        [one] { $total } alerta o llamamiento vigente.
       *[other] { $total } alertas y llamamientos vigentes, los más recientes primero.
    }
count-trusted-first = { $shown } de { $total } alertas y llamamientos vigentes: primero los de autores de confianza.
count-newest = Los { $shown } más recientes de { $total } alertas y llamamientos vigentes.
count-many = Los { $shown } más recientes de al menos { $total } alertas y llamamientos vigentes.
unverified-hidden-many = Al menos { $count } más no se muestran aquí: { $link }.
unverified-note = Los elementos marcados { $badge } están firmados con claves que este nodo no conoce y que ninguna lista de confianza nombra; aparecen después de los demás.
unverified-hidden =
    { $count ->
        [one] { $count } más no se muestra aquí: { $link }.
       *[other] { $count } más no se muestran aquí: { $link }.
    }
unverified-show = mostrar los elementos de autores no verificados

## Distintivos y etiquetas

badge-unverified = Autor no verificado
kind-alert = Alerta
kind-call = Llamamiento a la acción
severity-extreme = Peligro extremo
severity-severe = Grave
severity-moderate = Moderado
severity-minor = Menor
severity-unknown = Gravedad desconocida
status-exercise = Simulacro
status-test = Solo prueba
category-arrest = Detención
category-dismissal = Despido
category-strike = Huelga
category-lockout = Cierre patronal
category-violence = Violencia
category-safety = Seguridad en el trabajo
category-legislation = Legislación
category-union-busting = Represión antisindical
category-other = Otro
action-petition = Firmar una petición
action-letter = Escribir una carta
action-protest = Protestar
action-strike = Huelga de solidaridad
action-boycott = Boicotear
action-donation = Donar
action-ilo-observation = Presentar observaciones a la OIT
action-solidarity-message = Enviar un mensaje de solidaridad
action-other = Otra acción
body-ceacr = Comisión de Expertos de la OIT (CEACR)
body-cas = Comisión de Aplicación de Normas de la Conferencia de la OIT (CAS)
body-cfa = Comité de Libertad Sindical de la OIT (CLS)
body-other = Otro órgano
urgency-immediate = Actuar ya
urgency-expected = Actuar pronto
urgency-future = Actuar en los próximos días
urgency-past = Ya no hace falta actuar
certainty-observed = Confirmado
certainty-likely = Probable
certainty-possible = Posible
certainty-unlikely = Poco probable

## Un elemento de la portada

item-by = Por { $name }
item-updated = actualizado { $time }
item-what-to-do = Qué hacer:
item-asked = Se pide:
item-addressed-to = Dirigido a:
item-deadline = Fecha límite:
item-window = Periodo de acción:
item-from = Acción desde:
item-until = Acción hasta:
item-in-language = En { $language }.
item-in-language-translated = En { $language }, traducido.
item-translated-by = Traducido por { $name }.
endorsements =
    { $count ->
        [0] Aún sin apoyos
        [one] { $count } apoyo
       *[other] { $count } apoyos
    }
item-details = Detalles
item-details-of = de { $headline }
this-item = este elemento

## Un mensaje completo

fact-author = De
author-roster = { $name } (así nombrado en la lista de miembros de { $federation })
author-successor = { $name } (su nueva clave: sucede a { $key })
author-unknown = un autor sin perfil en este nodo
fact-key-history = Historial de la clave
fact-trust = Confianza
trust-unverified = Autor no verificado: este nodo no conoce esta clave, y ni su lista de autorizados ni la lista de miembros de una federación de confianza la nombran. La firma solo prueba que quien tiene la clave escribió esto.
fact-key = Clave del autor
fact-category = Qué pasó
fact-severity = Gravedad
fact-urgency = Cuándo actuar
fact-certainty = Certeza
fact-actions = Qué se pide
fact-target = Dirigido a
fact-deadline = Fecha límite
fact-window = Periodo de acción
fact-conventions = Convenios de la OIT
fact-body = Órgano de control
fact-countries = Países
fact-topics = Temas
fact-published = Publicado
fact-updated = Actualizado
fact-embargo = Retenido hasta
fact-expires = Caduca
fact-endorsements = Apoyos
texts-heading =
    { $count ->
        [one] En { $count } idioma
       *[other] En { $count } idiomas
    }
text-translated-by = traducido por { $name }
what-to-do = Qué hacer:
more-information = Más información
history = Historial
history-published = Publicado { $time } por { $name }
history-updated = Actualizado { $time } por { $name }
history-current = (vigente)
endorsements-heading = Apoyos ({ $count })
no-endorsements = Aún sin apoyos.
signatures = Firmas
signatures-note = Cada versión está firmada con Ed25519 por su autor; su identificador es el SHA-256 del texto firmado. Este nodo comprobó cada firma al llegar y de nuevo para esta página.
signature-original = Original
signature-update = Actualización
signature-translation = Traducción
signature-valid = firma válida
signature-invalid = la firma NO es válida
signature-key = clave
cap-document = Esta versión como documento CAP 1.2
show-full-key = clave completa

## Canales

feeds = Canales:
feed-atom = Atom
feed-cap = Índice CAP 1.2
feed-calendar = Calendario
feed-calendar-note = (fechas límite, para su agenda)
feeds-signed = Cada elemento está firmado por la organización que lo escribió y verificado por este nodo; su página muestra la firma y la clave del autor.
feed-title = Tocsin: alertas y llamamientos vigentes

## Claves terminadas

keys-heading = Claves revocadas y sustituidas
keys-note = Una organización cuya clave fue incautada o perdida le pone fin: lo que la clave firmó desde el momento indicado queda retenido por este nodo, y lo que firmó antes sigue valiendo. Una clave sustituida mediante su clave de recuperación pasa el nombre de la organización a su sucesora.
key-rotated = { $mark } mediante su clave de recuperación tras un compromiso; lo que firmó desde { $time } queda retenido
key-revoked = { $mark }; lo que firmó desde { $time } queda retenido
key-rotated-mark = sustituida
key-revoked-mark = revocada
key-compromised = (la sustitución la da por comprometida desde { $time })
key-successor = Continúa como { $name } { $key }
key-reason = Motivo: { $reason }
key-conflict = Atención: compromiso de recuperación contradictorio firmado con esta clave el { $time }, hacia otra clave de recuperación distinta de la primera: alguien ajeno a la organización pudo tener la clave entonces.
keys-more =
    { $count ->
        [one] { $count } clave más termina aquí (la más antigua no aparece).
       *[other] { $count } claves más terminan aquí (las más antiguas no aparecen).
    }

## Tiempos, respecto de ahora

time-now = ahora mismo
time-in-minutes =
    { $count ->
        [one] dentro de { $count } minuto
       *[other] dentro de { $count } minutos
    }
time-in-hours =
    { $count ->
        [one] dentro de { $count } hora
       *[other] dentro de { $count } horas
    }
time-in-days =
    { $count ->
        [one] dentro de { $count } día
       *[other] dentro de { $count } días
    }
time-minutes-ago =
    { $count ->
        [one] hace { $count } minuto
       *[other] hace { $count } minutos
    }
time-hours-ago =
    { $count ->
        [one] hace { $count } hora
       *[other] hace { $count } horas
    }
time-days-ago =
    { $count ->
        [one] hace { $count } día
       *[other] hace { $count } días
    }


## Lo que las organizaciones dicen haber hecho por un llamamiento

reports-heading = Acciones informadas
reports-goals = Objetivos
reports-none = Ninguna organización ha informado todavía.
reports-note = Cuenta el último informe firmado de cada organización; una revisión sustituye sus cifras anteriores.
reports-caption = Organizaciones que informaron
reports-organisation = Organización
reports-country = País
reports-reported = Informado
reports-as-of = A fecha de
reports-statement = Declaración
reports-evidence = Prueba
reports-by-country = Por país
reports-organisations = Organizaciones
reports-country-not-given = No indicado
reports-federations = Federaciones

## Tallies in words on the pages (the feeds and the command line give them in English)
# $n: the number, for plural forms; $count: it written out with its digits grouped.
tally-letters = { $n ->
        [one] { $count } carta
       *[other] { $count } cartas
    }
tally-signatures = { $n ->
        [one] { $count } firma
       *[other] { $count } firmas
    }
tally-participants = { $n ->
        [one] { $count } participante
       *[other] { $count } participantes
    }
tally-strikers = { $n ->
        [one] { $count } huelguista
       *[other] { $count } huelguistas
    }
tally-donations = { $n ->
       *[other] { $count } { $currency } en donaciones
    }
tally-observations = { $n ->
        [one] { $count } observación presentada
       *[other] { $count } observaciones presentadas
    }
tally-messages = { $n ->
        [one] { $count } mensaje de solidaridad
       *[other] { $count } mensajes de solidaridad
    }
tally-organisations = { $n ->
        [one] { $count } organización
       *[other] { $count } organizaciones
    }
tally-reported-by = Informado por { $organisations }.
tally-reported-by-totals = Informado por { $organisations }: { $totals }.
tally-goal = { $reached } de { $goal } — { $percent } %
tally-roster = { $n ->
       *[other] Afiliadas de { $federation } que informaron: { $reported } de { $members }
    }
tally-filing = observación presentada ante la { $body } el { $date }

## Lo que no se puede mostrar

withdrawn-title = Retirado
withdrawn-text = El autor retiró este mensaje. Este nodo ya no sirve su contenido.
message-id = Identificador:
withdrawn-reason = El motivo del autor: { $reason }
withheld-title = Retenido
withheld-text = Este mensaje se firmó con la clave de { $name } ({ $key }), que ya no está en sus manos. Este nodo lo retiene: { $why }.
withheld-text-since = Este mensaje se firmó con la clave de { $name } ({ $key }), que ya no está en sus manos desde el { $date }. Este nodo lo retiene: { $why }.
withheld-not-served = Su contenido no se sirve.
not-found-title = No encontrado
not-found-address = No hay nada en esta dirección.
not-found-message = Este nodo no muestra ninguna alerta ni llamamiento vigente con este identificador.
bad-request-title = Solicitud incorrecta
bad-request-text = Esta dirección pide algo que la página no puede mostrar: { $problem }.
