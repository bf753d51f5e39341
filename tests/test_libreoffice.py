"""LibreOffice help corpus: HTML text extraction, alignment rules, download errors, the built dataset.

The real dataset is built once per test session into the user's data directory
(`xling_jax.data.catalog.resolve_data_dir()`), from the Debian packages
libreoffice-help-{en-us,de,es,fr,zh-cn} (apt-get download: needs the Debian
mirror, not root); a finished build there is reused.
"""
import collections
import os

import pytest

from xling_jax.data.libreoffice import corpus, download
from xling_jax.data.libreoffice.html_text import element_text, normalize_space, page_paragraphs, parse_display_area
from xling_jax.data.report import SkipReport
from xling_jax.errors import UserError

LANGS = corpus.LANGUAGES


def page(body):
    """A help page around ``body``: the chrome outside div#DisplayArea has ids too and must be ignored."""
    return ('<!DOCTYPE html>\n<html lang="en-US"><head><title>T</title><script>var x = "<p id=\'par_idJS\'>";'
            '</script></head><body><header id="TopLeftHeader"><p id="par_idHEAD">LibreOffice 7.4 Help</p></header>'
            f'<div id="DisplayArea" itemprop="softwareHelp">\n{body}\n</div>\n<div id="SearchFrame"></div>'
            '<footer><div id="DEBUG" class="debug"><p id="bm_module" dir="auto">footer</p></div></footer>'
            '</body></html>')


# ---------------------------------------------------------------------------
# HTML -> text, on snippets copied from real pages (en-US unless said)

def test_nested_spans_and_entities():
    # text/smath/01/03090100.html
    html = page('<p id="par_id3153003" class="paragraphintable" dir="auto"><span class="avis">Inserts a <span '
                'class="emph">plus</span> with one placeholder.</span> You can also type <span class="emph">+ '
                '&lt;?&gt;</span> in the <span class="emph">Commands</span> window.</p>')
    assert page_paragraphs(html, 'smath') == [
        ('par_id3153003', 'Inserts a plus with one placeholder. You can also type + <?> in the Commands window.')]


def test_whitespace_entities_and_invisible_characters():
    html = page('<h2 id="hd_id1" dir="auto">\n<a name="x"></a>  Tools&nbsp;-\tOptions\n</h2>\n'
                '<p id="par_id2">R&amp;D&#160;&eacute;t&#233; <span class="emph">caf</span>e\u0301\u200b '
                '\u200eline<br>break&lt;br&gt;</p>')
    assert page_paragraphs(html, 'shared') == [('hd_id1', 'Tools - Options'),
                                               ('par_id2', 'R&D été café line break<br>')]


def test_system_switch_shows_linux_wording():
    # text/swriter/guide/table_sizing.html (de): macOS case first, default case second
    html = page('<p id="par_id0918200811260957" class="listitem" dir="auto">Halten Sie <span id="swlnsystextswriter'
                'guidetable_sizingxml_1" class="switchinline"><span hidden="true" id="MACtextswriterguidetable_sizing'
                'xml_1" class="MAC">Befehl</span><span hidden="true" id="defaulttextswriterguidetable_sizingxml_1">'
                'Strg</span></span> gedrückt.</p>')
    assert page_paragraphs(html, 'swriter') == [('par_id0918200811260957', 'Halten Sie Strg gedrückt.')]
    # a UNIX case wins over the default case, wherever it is
    html = page('<p id="par_id1">Press <span id="swlnsys_1" class="switchinline"><span hidden="true" id="default_1">'
                'F1</span><span hidden="true" id="MAC_1" class="MAC">Cmd</span><span hidden="true" id="UNIX_1" '
                'class="UNIX">Alt</span></span>.</p>')
    assert page_paragraphs(html, 'shared') == [('par_id1', 'Press Alt.')]


def test_application_switch_follows_the_page_module():
    # text/shared/01/05210100.html (a heading that is "Background" in Calc, "Area" elsewhere)
    h1 = ('<h1 id="hd_id3145759" dir="auto"><span id="swlnappltextshared0105210100xml_1" class="switchinline">\n'
          '<span hidden="true" id="CALCtextshared0105210100xml_1" class="CALC">Background</span><span hidden="true" '
          'id="defaulttextshared0105210100xml_1">Area</span></span></h1>')
    assert page_paragraphs(page(h1), 'scalc') == [('hd_id3145759', 'Background')]
    assert page_paragraphs(page(h1), 'shared') == [('hd_id3145759', 'Area')]
    # shared pages get the WRITER case (the viewer's default), even with no default case
    # (text/shared/00/00000406.html)
    p = ('<p id="par_id3157895" class="paragraph" dir="auto"><a name="autokorr"></a>Choose <span class="menuitem">'
         'Tools - </span><span id="swlnappltextshared0000000406xml_3" class="switchinline"><span hidden="true" '
         'id="WRITERtextshared0000000406xml_3" class="WRITER"><span class="menuitem">AutoCorrect - </span></span>'
         '</span><span class="menuitem">AutoCorrect Options</span>.</p>')
    assert page_paragraphs(page(p), 'shared') == [
        ('par_id3157895', 'Choose Tools - AutoCorrect - AutoCorrect Options.')]
    assert page_paragraphs(page(p), 'scalc') == [('par_id3157895', 'Choose Tools - AutoCorrect Options.')]


def test_block_switch_paragraphs_are_kept_with_their_own_ids():
    # text/sbasic/python/main0000.html: a UNIX-only warning, plus a made-up MAC-only paragraph
    html = page('<span id="swlnsyspythonmain0000_1" class="switch">\n  <span hidden="true" id="UNIXpythonmain0000_1" '
                'class="UNIX"><div class="warning"><div class="notetext"><p id="par_id131568902936659" dir="auto">'
                'The scripting framework is <span class="literal">optional</span>.</p></div></div><br></span>\n'
                '  <span hidden="true" id="MACpythonmain0000_1" class="MAC"><p id="par_idMAC">Only on a Mac.</p>'
                '</span></span>')
    assert page_paragraphs(html, 'sbasic') == [('par_id131568902936659', 'The scripting framework is optional.'),
                                               ('par_idMAC', 'Only on a Mac.')]
    assert page_paragraphs(html, 'sbasic', include_hidden=False) == [
        ('par_id131568902936659', 'The scripting framework is optional.')]


def test_image_leaves_no_space_before_punctuation():
    # text/swriter/guide/text_frame.html: en has a line break before the icon, zh has none
    en = page('<p id="par_id3150223" class="listitem" dir="auto">On the <span class="menuitem">Frame</span> Bar, click '
              'the <span class="menuitem">Link Frames</span> icon\n<img src="media/icon-themes/cmd/sc_chainframes.svg" '
              'class="iconimage" alt="Icon" style="width:21px;height:21px">.</p>')
    zh = page('<p id="par_id3150223" class="listitem" dir="auto">在「<span class="menuitem">框架</span>」工具栏中，点击「'
              '<span class="menuitem">链接框架</span>」图标<img src="x.svg" class="iconimage" alt="图标">。</p>')
    mid = page('<p id="par_id1">Click <img src="x.svg" alt="Icon"> to open, or <img src="y.svg" alt="Icon">, then'
               ' <img src="z.svg"></p>')
    assert page_paragraphs(en, 'swriter') == [('par_id3150223', 'On the Frame Bar, click the Link Frames icon.')]
    assert page_paragraphs(zh, 'swriter') == [('par_id3150223', '在「框架」工具栏中，点击「链接框架」图标。')]
    assert page_paragraphs(mid, 'swriter') == [('par_id1', 'Click to open, or, then')]


def test_embedded_copies_chrome_and_order():
    body = ('<h1 id="hd_id1">Title</h1>\n<div class="embedded"><a name="stylist"></a><h2 id="hd_idE">Styles</h2>'
            '<p id="par_idE">Copied from another page.</p></div>\n<table><tr><td><p id="par_id2" '
            'class="tablecontentintable">Cell</p></td></tr></table><p id="par_id3"></p><p id="par_id2">Cell</p>'
            '<p class="related">Related Topics</p>')
    html = page(body)
    assert page_paragraphs(html, 'shared') == [('hd_id1', 'Title'), ('par_id2', 'Cell'), ('par_id3', ''),
                                               ('par_id2', 'Cell')]
    assert [pid for pid, _ in page_paragraphs(html, 'shared', include_embedded=True)] == [
        'hd_id1', 'hd_idE', 'par_idE', 'par_id2', 'par_id3', 'par_id2']
    assert page_paragraphs('<html><body><p id="par_id1">x</p></body></html>') is None


def test_html_to_text_is_deterministic():
    tricky = page('<p id="par_id9"><span id="swlnsys_9" class="switchinline"><span hidden="true" id="MAC_9" '
                  'class="MAC">⌘</span><span hidden="true" id="default_9">Ctrl</span></span>+<span class="keycode">'
                  'F12</span>\n  &quot;x&quot;\u00a0<sup>2</sup> <a href="#">link</a> <span hidden="true">gone</span>'
                  '</p>')
    results = {tuple(page_paragraphs(tricky, 'swriter')) for _ in range(3)}
    assert results == {(('par_id9', 'Ctrl+F12 "x" 2 link'),)}
    root = parse_display_area(tricky)
    assert element_text(root) == element_text(root) == 'Ctrl+F12 "x" 2 link'
    assert normalize_space(' a \t\n b\u00a0 ') == 'a b'


# ---------------------------------------------------------------------------
# Alignment rules, on a small help tree written here

def write_tree(root, pages):
    """pages: {lang: {path: body}} -> files under root/<help dir>/<path>."""
    for lang, by_path in pages.items():
        for path, body in by_path.items():
            full = os.path.join(root, download.HELP_DIRS[lang], path)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, 'w', encoding='utf-8') as f:
                f.write(page(body))


def test_alignment_rules(tmp_path):
    en = ('<h1 id="hd_id1">Tables</h1><p id="par_id2">Click OK.</p><p id="par_id3">=SUM(A1:A3)</p>'
          '<p id="par_id4">Only English and German.</p><p id="par_id5">Dup one</p><p id="par_id5">Dup two</p>'
          '<p id="par_id6">Same twice</p><p id="par_id6">Same twice</p>')
    tr = {
        'de': ('<p id="par_id2">Klicken Sie auf OK.</p><h1 id="hd_id1">Tabellen</h1><p id="par_id3">=SUMME(A1:A3)</p>'
               '<p id="par_id4">Nur Englisch und Deutsch.</p><p id="par_id5">Eins</p><p id="par_id5">Zwei</p>'
               '<p id="par_id6">Zweimal</p><p id="par_id6">Zweimal</p><p id="par_idX">Nicht im Englischen.</p>'),
        'es': ('<h1 id="hd_id1">Tablas</h1><p id="par_id2">Click OK.</p><p id="par_id3">=SUMA(A1:A3)</p>'
               '<p id="par_id4">Only English and German.</p><p id="par_id6">Dos veces</p>'),
        'fr': '<h1 id="hd_id1">Tableaux</h1><p id="par_id2">Cliquez sur OK.</p><p id="par_id3">123</p>',
    }
    write_tree(tmp_path, {'en': {'text/smath/01/a.html': en, 'text/swriter/b.html': '<p id="par_id1">B</p>'},
                          **{lang: {'text/smath/01/a.html': body} for lang, body in tr.items()}})
    report = SkipReport()
    splits = corpus.split_records(str(tmp_path), report)
    assert splits['train'] == [] and splits['dev'] == []  # swriter/b.html has English only: dropped
    got = [(r['id'], tuple(r[lang] for lang in LANGS)) for r in splits['test']]
    assert got == [  # English page order; '' = missing (zh has no pages at all), untranslated or no letters
        ('hd_id1', ('Tables', 'Tabellen', 'Tablas', 'Tableaux', '')),
        ('par_id2', ('Click OK.', 'Klicken Sie auf OK.', '', 'Cliquez sur OK.', '')),
        ('par_id3', ('=SUM(A1:A3)', '=SUMME(A1:A3)', '=SUMA(A1:A3)', '', '')),
        ('par_id4', ('Only English and German.', 'Nur Englisch und Deutsch.', '', '', '')),
        ('par_id6', ('Same twice', 'Zweimal', 'Dos veces', '', '')),
    ]
    assert {r['module'] for r in splits['test']} == {'smath'}
    assert splits['test'][0]['page'] == 'text/smath/01/a.html'
    counts = report.counts
    assert counts['es: same as English (untranslated)'] == 2
    assert counts['fr: no letters'] == 1
    assert counts['en: duplicated id, different texts (dropped)'] == 1
    assert counts['de: duplicated id, different texts (dropped)'] == 1
    assert counts['en: duplicated id, same text (kept once)'] == 1
    assert counts['de: id not on the English page'] == 1
    assert counts['zh: page missing'] == 2
    assert counts['record with fewer than two languages'] == 2  # par_id5, b.html#par_id1
    assert corpus.pair_counts(splits['test'])['en-de'] == 5
    assert corpus.pair_counts(splits['test'])['de-es'] == 3


# ---------------------------------------------------------------------------
# Download errors

def test_failed_download_is_a_user_error(monkeypatch, tmp_path):
    from xling_jax.data.libreoffice import builder
    fail = ('sh', '-c', 'echo "W: some warning" >&2; echo "E: Failed to fetch http://deb.debian.org/debian/pool/'
            'main/libr/libreoffice/x.deb  Temporary failure resolving deb.debian.org" >&2; exit 100', 'apt-get')
    monkeypatch.setattr(download, 'DOWNLOAD_COMMAND', fail)
    with pytest.raises(UserError) as err:
        builder.build(str(tmp_path))
    msg = str(err.value)
    assert '\n' not in msg
    assert 'exit status 100' in msg and 'Temporary failure resolving deb.debian.org' in msg
    assert 'libreoffice-help-en-us' in msg and 'libreoffice-help-zh-cn' in msg
    assert 'apt-get update' in msg
    assert os.path.join(str(tmp_path), 'downloads', 'libreoffice_help', 'debs') in msg
    assert not os.path.exists(os.path.join(str(tmp_path), 'libreoffice_help'))


def test_missing_apt_get_and_dpkg_are_user_errors(monkeypatch, tmp_path):
    monkeypatch.setattr(download, 'DOWNLOAD_COMMAND', ('no-such-apt-get-here', 'download'))
    with pytest.raises(UserError) as err:
        download.fetch(str(tmp_path / 'cache'))
    assert '\n' not in str(err.value) and 'no-such-apt-get-here download libreoffice-help-en-us' in str(err.value)
    # .deb files already in the cache are used without downloading; unpacking them needs dpkg
    debs = tmp_path / 'cache' / 'debs'
    for package in download.PACKAGES.values():
        (debs / f'{package}_1.0_all.deb').write_bytes(b'')
    monkeypatch.setattr(download, 'EXTRACT_COMMAND', ('no-such-dpkg-here', '-x'))
    with pytest.raises(UserError) as err:
        download.fetch(str(tmp_path / 'cache'))
    assert '\n' not in str(err.value) and 'dpkg' in str(err.value)
    assert not os.path.exists(tmp_path / 'cache' / 'extracted')


# ---------------------------------------------------------------------------
# The real dataset

@pytest.fixture(scope='session')
def libreoffice_dir():
    """DATA_DIR/libreoffice_help/1.0.0, built once (about a minute) unless already there."""
    from xling_jax.data import catalog
    # Through the registry's build lock: another process (a test worker, a training run) may be
    # building the same dataset, and two unlocked builds delete each other's files.
    return os.path.join(catalog.ensure_built('libreoffice_help'), 'libreoffice_help', '1.0.0')


@pytest.fixture(scope='module')
def dataset(libreoffice_dir):
    import tensorflow_datasets as tfds
    return tfds.builder_from_directory(libreoffice_dir)


@pytest.fixture(scope='module')
def records(dataset):
    """{split: [record with str values]} read through the array_record data source."""
    out = {}
    for split in corpus.SPLITS:
        source = dataset.as_data_source(split)
        raw = source.__getitems__(list(range(len(source))))
        out[split] = [{k: v.decode('utf-8') for k, v in r.items()} for r in raw]
    return out


@pytest.fixture(scope='module')
def by_key(records):
    return {(r['page'], r['id']): r for rs in records.values() for r in rs}


def test_info(dataset):
    info = dataset.info
    assert dataset.name == 'libreoffice_help' and str(info.version) == '1.0.0'
    assert list(info.metadata['languages']) == list(LANGS)
    assert set(info.features.keys()) == {'page', 'module', 'id', *LANGS}
    assert info.disable_shuffling
    assert 'smath' in info.description and 'schart' in info.description
    assert 'zh-CN' in info.description and 'libreoffice-help-zh-cn' in info.description
    with open(os.path.join(dataset.data_dir, 'LICENSE'), encoding='utf-8') as f:
        assert f.read().strip() == 'MPL-2.0'
    assert set(info.metadata['packages']) == set(download.PACKAGES.values())


# (page, id) -> texts checked against the HTML of libreoffice-help-* 4:7.4.7-1+deb12u14 ('' = blanked)
KNOWN = {
    # test split; entities and nested spans
    ('text/smath/01/03090100.html', 'par_id3153003'): {
        'en': 'Inserts a plus with one placeholder. You can also type + <?> in the Commands window.',
        'de': 'Fügt das Zeichen für Plus und einen Platzhalter ein. Sie können auch +<?> direkt im Fenster '
              'Kommandos eingeben.',
        'es': 'Inserta un signo de suma con un hueco. También puede escribir + <?> en el cuadro Órdenes.',
        'zh': '插入带有一个占位符的「加号」。您也可以在「命令」窗口中输入「+<?>」。'},
    # dev split
    ('text/schart/00/00000004.html', 'par_id3155444'): {
        'en': 'Choose Format - Legend - Position tab (Charts)',
        'de': 'Wählen Sie Format – Legende… – Register: Anordnung (Diagramme)',
        'es': 'Vaya a Formato ▸ Leyenda ▸ Posición (gráficos)',
        'fr': "Choisissez sur l'onglet Format - Légende - Position (Diagrammes)",
        'zh': '选择「格式 - 图例 - 位置」选项卡 (图表)'},
    # system switch (Ctrl, not the macOS Command key)
    ('text/swriter/guide/table_sizing.html', 'par_id0918200811260957'): {
        'en': 'Hold down Ctrl and then click and drag a line to scale all cells right or above the line '
              'proportionally.',
        'de': 'Halten Sie Strg gedrückt, klicken Sie auf eine Linie und verschieben Sie sie, um die Größe aller '
              'Zellen rechts davon beziehungsweise darüber proportional zu ändern.',
        'es': 'Mantenga oprimida Ctrl y, a continuación, pulse y arrastre un línea para cambiar la escala de todas '
              'las celdas hacia la derecha o por encima de la línea proporcionalmente.',
        'zh': '按住 Ctrl 键，点击并拖拽出一条线，以便将所有单元格按比例排列至该线条的右边或下边。'},
    # an icon image before the full stop
    ('text/swriter/guide/text_frame.html', 'par_id3150223'): {
        'en': 'On the Frame Bar, click the Link Frames icon.',
        'de': 'In der Symbolleiste Rahmen klicken Sie auf das Symbol Verketten.',
        'es': 'En la barra Marco, pulse en el icono Enlazar marcos.',
        'fr': "Dans la barre Cadre, cliquez sur l'icône Lier les cadres.",
        'zh': '在「框架」工具栏中，点击「链接框架」图标。'},
    # application switch on a shared page (WRITER case); es and zh are the untranslated English
    ('text/shared/00/00000406.html', 'par_id3157895'): {
        'en': 'Choose Tools - AutoCorrect - AutoCorrect Options.',
        'de': 'Wählen Sie Extras – AutoKorrektur – AutoKorrektur-Optionen…',
        'es': '', 'fr': "Choisissez Outils - AutoCorrection - Options d'autocorrection.", 'zh': ''},
    # default case of an application switch; es, zh untranslated, fr's default case is empty
    ('text/shared/01/05210100.html', 'hd_id3145759'): {
        'en': 'Area', 'de': 'Fläche', 'es': '', 'fr': '', 'zh': ''},
}


@pytest.mark.parametrize('key', sorted(KNOWN), ids=lambda k: f'{k[0]}#{k[1]}')
def test_known_paragraphs(by_key, key):
    record = by_key[key]
    for lang, text in KNOWN[key].items():
        assert record[lang] == text, lang
    assert record['module'] == key[0].split('/')[1]


def test_splits_are_disjoint_modules(records):
    modules = {split: {r['module'] for r in rs} for split, rs in records.items()}
    assert modules['dev'] == set(corpus.DEV_MODULES) == {'schart'}
    assert modules['test'] == set(corpus.TEST_MODULES) == {'smath'}
    assert modules['train'] == {'sbasic', 'scalc', 'sdatabase', 'sdraw', 'shared', 'simpress', 'swriter'}
    pages = {split: {r['page'] for r in rs} for split, rs in records.items()}
    assert not (pages['train'] & pages['dev']) and not (pages['train'] & pages['test'])
    assert all(r['page'].startswith(f"text/{r['module']}/") for rs in records.values() for r in rs)
    total = sum(len(rs) for rs in records.values())
    for split in ('dev', 'test'):
        assert 0.01 < len(records[split]) / total < 0.05, split


def test_records_are_clean(records):
    keys = collections.Counter()
    for split, rs in records.items():
        order = [r['page'] for r in rs]
        assert order == sorted(order), split  # pages in path order (the build is deterministic)
        for r in rs:
            keys[(r['page'], r['id'])] += 1
            texts = [r[lang] for lang in LANGS]
            assert sum(bool(t) for t in texts) >= 2
            for lang in LANGS:
                t = r[lang]
                if not t:
                    continue
                assert lang == 'en' or t != r['en'], (r['page'], r['id'], lang)
                assert any(ch.isalpha() for ch in t)
                assert t == ' '.join(t.split()) and '\x00' not in t and '\u200e' not in t
                # no markup or entity left (the help does quote tags in text: '<span>', '<img src="...">')
                assert not any(m in t for m in ('class="', 'href=', 'hidden=', '&nbsp;', '&amp;', '&lt;', '&#'))
    assert keys.most_common(1)[0][1] == 1  # (page, id) is a key


def test_pair_counts(records, dataset):
    counts = {split: corpus.pair_counts(rs) for split, rs in records.items()}
    assert counts == {split: dict(c) for split, c in dataset.info.metadata['pair_counts'].items()}
    total = {p: sum(c[p] for c in counts.values()) for p in counts['train']}
    # distinct (source, target) text pairs: what "35k en-de" etc. means
    distinct = {p: len({(r[p[:2]], r[p[3:]]) for rs in records.values() for r in rs if r[p[:2]] and r[p[3:]]})
                for p in ('en-de', 'en-fr', 'en-es', 'en-zh')}
    for pair, (lo, hi) in {'en-de': (32_000, 39_000), 'en-fr': (30_000, 37_000), 'en-es': (27_000, 34_000),
                           'en-zh': (21_000, 28_000)}.items():
        assert lo <= distinct[pair] <= hi, (pair, distinct[pair])
        assert distinct[pair] < total[pair] < 1.4 * distinct[pair], (pair, total[pair])
    assert total['en-de'] > total['en-fr'] > total['en-es'] > total['en-zh']
    for split in ('dev', 'test'):
        assert min(counts[split].values()) > 700, split  # every pair is well represented in dev and test


def test_rebuilding_a_split_gives_the_same_records(libreoffice_dir, records):
    # The stored test split equals a fresh extraction of its pages from the packages, in order
    # (fetch reuses the unpacked packages, or downloads them again where the dataset was copied in).
    cache = os.path.join(os.path.dirname(os.path.dirname(libreoffice_dir)), 'downloads', 'libreoffice_help')
    help_root = download.fetch(cache)
    report = SkipReport()
    fresh = [r for p in corpus.list_pages(help_root) if p.split('/')[1] in corpus.TEST_MODULES
             for r in corpus.page_records(help_root, p, report)]
    assert fresh == records['test']


def test_registry_pairs_every_two_languages_in_either_order(libreoffice_dir, records):
    from xling_jax.data import catalog
    ds = catalog.open_dataset('libreoffice_help', os.path.dirname(os.path.dirname(libreoffice_dir)))
    for a, b in (('en', 'de'), ('de', 'en'), ('zh', 'fr'), ('es', 'de')):
        idx = ds.pair_index('test', a, b)
        expected = [i for i, r in enumerate(records['test']) if r[a].strip() and r[b].strip() and r[a] != r[b]]
        assert idx.tolist() == expected and len(expected) > 700, (a, b)


def test_pair_index_with_languages_out_of_alphabetical_order(tiny_libreoffice_dir):
    # The dataset lists en, de, es, fr, zh: pairs are found whichever way round they are asked for.
    from xling_jax.data import catalog
    ds = catalog.open_dataset('libreoffice_help', tiny_libreoffice_dir)
    assert ds.languages == LANGS
    en_de = ds.pair_index('train', 'en', 'de')
    assert len(en_de) == 7 * 6 * 7  # the dataset's train split: 7 modules (not Chart, Math) x 6 pages x 7 paragraphs
    assert list(ds.pair_index('train', 'de', 'en')) == list(en_de)
    assert ds.pair_counts('train')['de-en'] == len(en_de) and 'en-de' not in ds.pair_counts('train')
