# As palavras do portal web, em português. As chaves e as { $variáveis } são as de en.ftl
# (ver os seus comentários: o que é cada mensagem e o que contêm as suas variáveis).

## A moldura de cada página

site-tagline = Alertas de solidariedade e apelos à ação, assinados pelos sindicatos que os escreveram.
skip-to-content = Ir para o conteúdo
index-title = Tocsin: alertas e apelos à ação em vigor
all-current = Todos os alertas e apelos em vigor
this-node = Este nó:

## A escolha do idioma

switcher-label = Idioma de leitura
read-in = Ler em:
browser-language = o idioma do seu navegador

## Os filtros

filters-label = Filtrar alertas e apelos
filter-kind = Tipo
filter-kind-any = Alertas e apelos
filter-kind-alert = Alertas
filter-kind-call = Apelos à ação
filter-country = País
filter-country-any = Todos os países
filter-topic = Tema
filter-topic-any = Todos os temas
filter-language = Disponível em
filter-language-any = Qualquer idioma
filter-authors = Autores
filter-authors-any = Os de confiança primeiro
filter-authors-trusted = Só de confiança
filter-authors-unverified = Só não verificados
filter-show = Mostrar
filter-clear = Limpar filtros

## Quantos itens a página mostra

count-none-filtered = Nenhum alerta ou apelo em vigor corresponde a estes filtros.
count-none = Não há alertas nem apelos em vigor.
count-all =
    { $total ->
        [one] { $total } alerta ou apelo em vigor.
       *[other] { $total } alertas e apelos em vigor, os mais recentes primeiro.
    }
count-trusted-first = { $shown } de { $total } alertas e apelos em vigor: primeiro os de autores de confiança.
count-newest = Os { $shown } mais recentes de { $total } alertas e apelos em vigor.
count-many = Os { $shown } mais recentes de pelo menos { $total } alertas e apelos em vigor.
unverified-hidden-many = Pelo menos mais { $count } não são mostrados aqui: { $link }.
unverified-note = Os itens marcados { $badge } são assinados por chaves que este nó não conhece e que nenhuma lista de confiança nomeia; aparecem depois dos outros.
unverified-hidden =
    { $count ->
        [one] Mais { $count } não é mostrado aqui: { $link }.
       *[other] Mais { $count } não são mostrados aqui: { $link }.
    }
unverified-show = mostrar os itens de autores não verificados

## Distintivos e rótulos

badge-unverified = Autor não verificado
kind-alert = Alerta
kind-call = Apelo à ação
severity-extreme = Perigo extremo
severity-severe = Grave
severity-moderate = Moderado
severity-minor = Menor
severity-unknown = Gravidade desconhecida
status-exercise = Exercício
status-test = Apenas teste
category-arrest = Detenção
category-dismissal = Despedimento
category-strike = Greve
category-lockout = Lockout
category-violence = Violência
category-safety = Segurança no trabalho
category-legislation = Legislação
category-union-busting = Repressão antissindical
category-other = Outro
action-petition = Assinar uma petição
action-letter = Escrever uma carta
action-protest = Protestar
action-strike = Greve de solidariedade
action-boycott = Boicotar
action-donation = Doar
action-ilo-observation = Apresentar observações à OIT
action-solidarity-message = Enviar uma mensagem de solidariedade
action-other = Outra ação
body-ceacr = Comissão de Peritos da OIT (CEACR)
body-cas = Comissão de Aplicação de Normas da Conferência da OIT (CAS)
body-cfa = Comité de Liberdade Sindical da OIT (CLS)
body-other = Outro órgão
urgency-immediate = Agir já
urgency-expected = Agir em breve
urgency-future = Agir nos próximos dias
urgency-past = Já não é preciso agir
certainty-observed = Confirmado
certainty-likely = Provável
certainty-possible = Possível
certainty-unlikely = Pouco provável

## Um item da página inicial

item-by = Por { $name }
item-updated = atualizado { $time }
item-what-to-do = O que fazer:
item-asked = Pede-se:
item-addressed-to = Dirigido a:
item-deadline = Prazo:
item-window = Período de ação:
item-from = Ação a partir de:
item-until = Ação até:
item-in-language = Em { $language }.
item-in-language-translated = Em { $language }, traduzido.
item-translated-by = Traduzido por { $name }.
endorsements =
    { $count ->
        [0] Ainda sem apoios
        [one] { $count } apoio
       *[other] { $count } apoios
    }
item-details = Detalhes
item-details-of = de { $headline }
this-item = este item

## Uma mensagem completa

fact-author = De
author-roster = { $name } (assim nomeado na lista de membros de { $federation })
author-successor = { $name } (a sua nova chave: sucede a { $key })
author-unknown = um autor sem perfil neste nó
fact-key-history = Histórico da chave
fact-trust = Confiança
trust-unverified = Autor não verificado: este nó não conhece esta chave, e nem a sua lista de autorizados nem a lista de membros de uma federação de confiança a nomeiam. A assinatura só prova que quem tem a chave escreveu isto.
fact-key = Chave do autor
fact-category = O que aconteceu
fact-severity = Gravidade
fact-urgency = Quando agir
fact-certainty = Certeza
fact-actions = O que se pede
fact-target = Dirigido a
fact-deadline = Prazo
fact-window = Período de ação
fact-conventions = Convenções da OIT
fact-body = Órgão de controlo
fact-countries = Países
fact-topics = Temas
fact-published = Publicado
fact-updated = Atualizado
fact-embargo = Retido até
fact-expires = Expira
fact-endorsements = Apoios
texts-heading =
    { $count ->
        [one] Em { $count } idioma
       *[other] Em { $count } idiomas
    }
text-translated-by = traduzido por { $name }
what-to-do = O que fazer:
more-information = Mais informações
history = Histórico
history-published = Publicado { $time } por { $name }
history-updated = Atualizado { $time } por { $name }
history-current = (em vigor)
endorsements-heading = Apoios ({ $count })
no-endorsements = Ainda sem apoios.
signatures = Assinaturas
signatures-note = Cada versão é assinada com Ed25519 pelo seu autor; o seu identificador é o SHA-256 do texto assinado. Este nó verificou cada assinatura à chegada e de novo para esta página.
signature-original = Original
signature-update = Atualização
signature-translation = Tradução
signature-valid = assinatura válida
signature-invalid = a assinatura NÃO é válida
signature-key = chave
cap-document = Esta versão como documento CAP 1.2
show-full-key = chave completa

## Feeds

feeds = Feeds:
feed-atom = Atom
feed-cap = Índice CAP 1.2
feed-calendar = Calendário
feed-calendar-note = (prazos, para a sua agenda)
feeds-signed = Cada item é assinado pela organização que o escreveu e verificado por este nó; a sua página mostra a assinatura e a chave do autor.
feed-title = Tocsin: alertas e apelos em vigor

## Chaves terminadas

keys-heading = Chaves revogadas e substituídas
keys-note = Uma organização cuja chave foi apreendida ou perdida põe-lhe fim: o que a chave assinou a partir do momento indicado fica retido por este nó, e o que assinou antes continua válido. Uma chave substituída através da sua chave de recuperação passa o nome da organização à sua sucessora.
key-rotated = { $mark } através da sua chave de recuperação após um comprometimento; o que assinou a partir de { $time } fica retido
key-revoked = { $mark }; o que assinou a partir de { $time } fica retido
key-rotated-mark = substituída
key-revoked-mark = revogada
key-compromised = (a substituição dá-a como comprometida desde { $time })
key-successor = Continua como { $name } { $key }
key-reason = Motivo: { $reason }
key-conflict = Atenção: compromisso de recuperação contraditório assinado com esta chave em { $time }, para uma chave de recuperação diferente da primeira: alguém que não a organização pode ter tido a chave nessa altura.
keys-more =
    { $count ->
        [one] Mais { $count } chave termina aqui (a mais antiga não é listada).
       *[other] Mais { $count } chaves terminam aqui (as mais antigas não são listadas).
    }

## Tempos, em relação a agora

time-now = agora mesmo
time-in-minutes =
    { $count ->
        [one] daqui a { $count } minuto
       *[other] daqui a { $count } minutos
    }
time-in-hours =
    { $count ->
        [one] daqui a { $count } hora
       *[other] daqui a { $count } horas
    }
time-in-days =
    { $count ->
        [one] daqui a { $count } dia
       *[other] daqui a { $count } dias
    }
time-minutes-ago =
    { $count ->
        [one] há { $count } minuto
       *[other] há { $count } minutos
    }
time-hours-ago =
    { $count ->
        [one] há { $count } hora
       *[other] há { $count } horas
    }
time-days-ago =
    { $count ->
        [one] há { $count } dia
       *[other] há { $count } dias
    }


## O que as organizações dizem ter feito por um apelo

reports-heading = Ações comunicadas
reports-goals = Objetivos
reports-none = Nenhuma organização comunicou ainda.
reports-note = Conta o último relatório assinado de cada organização; uma revisão substitui os seus números anteriores.
reports-caption = Organizações que comunicaram
reports-organisation = Organização
reports-country = País
reports-reported = Comunicado
reports-as-of = Em
reports-statement = Declaração
reports-evidence = Prova
reports-by-country = Por país
reports-organisations = Organizações
reports-country-not-given = Não indicado
reports-federations = Federações

## Tallies in words on the pages (the feeds and the command line give them in English)
# $n: the number, for plural forms; $count: it written out with its digits grouped.
tally-letters = { $n ->
        [one] { $count } carta
       *[other] { $count } cartas
    }
tally-signatures = { $n ->
        [one] { $count } assinatura
       *[other] { $count } assinaturas
    }
tally-participants = { $n ->
        [one] { $count } participante
       *[other] { $count } participantes
    }
tally-strikers = { $n ->
        [one] { $count } grevista
       *[other] { $count } grevistas
    }
tally-donations = { $n ->
       *[other] { $count } { $currency } em doações
    }
tally-observations = { $n ->
        [one] { $count } observação apresentada
       *[other] { $count } observações apresentadas
    }
tally-messages = { $n ->
        [one] { $count } mensagem de solidariedade
       *[other] { $count } mensagens de solidariedade
    }
tally-organisations = { $n ->
        [one] { $count } organização
       *[other] { $count } organizações
    }
tally-reported-by = Relatado por { $organisations }.
tally-reported-by-totals = Relatado por { $organisations }: { $totals }.
tally-goal = { $reached } de { $goal } — { $percent }%
tally-roster = { $n ->
       *[other] Filiadas de { $federation } que relataram: { $reported } de { $members }
    }
tally-filing = observação apresentada à { $body } em { $date }

## O que não pode ser mostrado

withdrawn-title = Retirado
withdrawn-text = O autor retirou esta mensagem. O seu conteúdo já não é servido por este nó.
message-id = Identificador:
withdrawn-reason = O motivo do autor: { $reason }
withheld-title = Retido
withheld-text = Esta mensagem foi assinada com a chave de { $name } ({ $key }), que já não está nas suas mãos. Este nó retém-na: { $why }.
withheld-text-since = Esta mensagem foi assinada com a chave de { $name } ({ $key }), que já não está nas suas mãos desde { $date }. Este nó retém-na: { $why }.
withheld-not-served = O seu conteúdo não é servido.
not-found-title = Não encontrado
not-found-address = Não há nada neste endereço.
not-found-message = Este nó não mostra nenhum alerta ou apelo em vigor com este identificador.
bad-request-title = Pedido inválido
bad-request-text = Este endereço pede algo que a página não pode mostrar: { $problem }.
