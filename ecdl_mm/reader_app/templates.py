# Copyright (c) ecdl_mm contributors. All rights reserved.
"""The app's pages (Jinja templates, autoescaped). Plain HTML forms and CSS,
no JavaScript: the gallery zooms with CSS ``:target`` overlays, so a zoom
neither reloads the page nor loses the form."""

BASE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{{ title }}{% block subtitle %}{% endblock %}</title>
<style>
body { font-family: sans-serif; margin: 1em 2em; background: #fafafa; }
table { border-collapse: collapse; } td, th { border: 1px solid #bbb;
  padding: .2em .6em; } th { background: #eee; }
.gallery { display: flex; flex-wrap: wrap; gap: .6em; }
.gallery img { height: 260px; border: 1px solid #444; background: #000; }
.overlay { display: none; position: fixed; inset: 0; background: #000e;
  overflow: auto; z-index: 10; padding: 2.5em 1em 1em; }
.overlay:target { display: block; }
.overlay nav { position: fixed; top: .4em; left: 1em; }
.overlay nav a { color: #fff; background: #333; padding: .2em .7em;
  margin-right: .4em; text-decoration: none; border-radius: .3em; }
.z1 img { width: 100%; } .z2 img { width: 200%; } .z4 img { width: 400%; }
fieldset { margin: .8em 0; } .ai { background: #eef6ff; border: 1px solid
  #79a; padding: .4em 1em; margin: .8em 0; }
.uncertain { color: #a40; font-weight: bold; }
progress { width: 20em; } .note { color: #555; }
button { font-size: 1.05em; padding: .3em 1.2em; }
.warn { background: #fee; border: 1px solid #c66; padding: .4em 1em; }
</style></head><body>
<h1>{{ title }}</h1>
{% block body %}{% endblock %}
</body></html>
"""

HOME = """{% extends "base.html" %}
{% block body %}
<p>Please open the personal link you were given.</p>
{% endblock %}
"""

READER = """{% extends "base.html" %}
{% block subtitle %} - reader {{ reader.reader_id }}{% endblock %}
{% block body %}
<p>Reader <b>{{ reader.reader_id }}</b>. Your answers are saved as you give
them: you can stop at any time and come back to this link.</p>
<table id="sessions"><tr><th>session</th><th>progress</th><th></th></tr>
{% for s in sessions %}
<tr><td>{{ s.name }}</td>
<td><progress max="{{ s.total }}" value="{{ s.done }}"></progress>
 {{ s.done }} / {{ s.total }}</td>
<td>{% if s.done == s.total %}done
{% elif s.open %}<a class="go" href="{{ s.url }}">{{ 'Resume' if s.done
 else 'Start' }}</a>
{% else %}{{ s.why }}{% endif %}</td></tr>
{% endfor %}</table>
{% endblock %}
"""

READ = """{% extends "base.html" %}
{% block subtitle %} - {{ session }} - lesion {{ position }} of {{ total
}}{% endblock %}
{% block body %}
<p>Session <b>{{ session }}</b>{% if phase_name %}, {{ phase_name }}{% endif
%}: lesion {{ position }} of {{ total }}
<progress max="{{ total }}" value="{{ position - 1 }}"></progress>
<a href="{{ home }}" id="stop">Stop here (resume later)</a></p>
<div class="gallery" id="gallery">
{% for img in images %}
<a href="#z1-{{ loop.index }}"><img src="{{ img }}"
 alt="image {{ loop.index }} of {{ images|length }}"></a>
{% endfor %}</div>
<p class="note">{{ images|length }} image(s). Click an image to zoom.</p>
{% for img in images %}{% set k = loop.index %}
{% for z in (1, 2, 4) %}
<div class="overlay z{{ z }}" id="z{{ z }}-{{ k }}"><nav>
<a href="#z1-{{ k }}">1x</a><a href="#z2-{{ k }}">2x</a>
<a href="#z4-{{ k }}">4x</a><a href="#form">close</a></nav>
<img src="{{ img }}" alt="image {{ k }} at {{ z }}x"></div>
{% endfor %}{% endfor %}
{% if first %}<p>Your first read: <b>{{ first.label }}</b>, confidence
{{ first.confidence }}.</p>{% endif %}
{% if ai %}
<div class="ai" id="ai"><b>AI</b>{% if ai.note %} <i>({{ ai.note }})</i>{%
endif %}: <span id="ai-class">{{ ai.label }}</span>
{% if ai.uncertain %}<span class="uncertain" id="ai-uncertain">
(uncertain: the AI abstains)</span>{% else %}<span id="ai-uncertain">
(not flagged uncertain)</span>{% endif %}
<table><tr>{% for p in ai.probs %}<th>{{ p.label }}</th>{% endfor %}</tr>
<tr>{% for p in ai.probs %}<td>{{ '%.1f' % (100 * p.value) }} %</td>{% endfor
%}</tr></table></div>
{% endif %}
<form method="post" action="{{ action }}" id="form">
<input type="hidden" name="csrf" value="{{ csrf }}">
<input type="hidden" name="lesion" value="{{ lesion }}">
<input type="hidden" name="phase" value="{{ phase }}">
<fieldset id="diagnosis"><legend>Diagnosis</legend>
{% for c in classes %}<label><input type="radio" name="diagnosis"
 value="{{ c.value }}" required> {{ c.label }}</label><br>{% endfor %}
</fieldset>
<fieldset id="confidence"><legend>Confidence</legend>
{% for c in confidence %}<label><input type="radio" name="confidence"
 value="{{ c.value }}" required> {{ c.label }}</label> {% endfor %}
</fieldset>
<button type="submit" id="submit">Save and continue</button>
</form>
{% endblock %}
"""

DONE = """{% extends "base.html" %}
{% block body %}
<p id="done">Session <b>{{ session }}</b> is complete: thank you.</p>
<p><a href="{{ home }}">Back to your sessions</a></p>
{% endblock %}
"""

MESSAGE = """{% extends "base.html" %}
{% block body %}<p class="warn" id="message">{{ message }}</p>{% endblock %}
"""

ADMIN = """{% extends "base.html" %}
{% block subtitle %} - admin{% endblock %}
{% block body %}
{% if note %}<p class="warn">Model: {{ note }}</p>{% endif %}
{% if flash %}<p class="warn" id="flash">{{ flash }}</p>{% endif %}
<h2>Progress</h2>
<table id="progress"><tr><th>reader</th><th>group</th>{% for s in sessions
%}<th>{{ s }}</th>{% endfor %}</tr>
{% for row in rows %}<tr><td>{{ row.reader }}</td><td>{{ row.group }}</td>
{% for c in row.cells %}<td>{{ c.done }} / {{ total }}{% if c.note %}
({{ c.note }}){% endif %}</td>{% endfor %}</tr>{% endfor %}
</table>
{% if refused %}<p class="note" id="refused">Refused requests since the
server started (details in its log): {% for k, n in refused %}{{ k }} {{ n
}}{{ ', ' if not loop.last }}{% endfor %}.</p>{% endif %}
{% if washout %}
<h2>Wash-out override</h2>
<p>The assisted session opens {{ washout }} day(s) after a reader's last
unassisted read. An override opens it now and is recorded.</p>
<form method="post" action="{{ base }}/override" id="override">
<input type="hidden" name="csrf" value="{{ csrf }}">
<select name="reader">{% for row in rows %}<option>{{ row.reader
}}</option>{% endfor %}</select>
<input name="reason" placeholder="reason (recorded)" required size="40">
<button type="submit">Override wash-out</button></form>
{% if overrides %}<table id="overrides"><tr><th>reader</th><th>session</th>
<th>at (UTC)</th><th>reason</th></tr>{% for o in overrides %}<tr>
<td>{{ o[0] }}</td><td>{{ o[1] }}</td><td>{{ o[2] }}</td><td>{{ o[3]
}}</td></tr>{% endfor %}</table>{% endif %}
{% endif %}
<h2>Export and analysis</h2>
<p><a href="{{ base }}/export" id="export">Download readers.csv</a>
(format of <code>tools/analysis/reader_study.py</code>; also written to
<code>{{ export_path }}</code>)</p>
<form method="post" action="{{ base }}/analysis" id="analysis">
<input type="hidden" name="csrf" value="{{ csrf }}">
<button type="submit">Run analysis</button></form>
<p class="note">The same by hand: <code>{{ command }}</code></p>
{% if report %}<p><a href="{{ base }}/report/report.html" id="report">
report.html</a></p>{% endif %}
{% endblock %}
"""

TEMPLATES = {
    'base.html': BASE,
    'home.html': HOME,
    'reader.html': READER,
    'read.html': READ,
    'done.html': DONE,
    'message.html': MESSAGE,
    'admin.html': ADMIN,
}
