"""Show why a HAN decided: each sentence shaded by its weight, each word by its weight (Yang et al. 2016, figs. 5-6).

    python -m zoo classify --export savedmodels/han --html why.html --png why.png "The plot was superb. I loved it!"

(or `zoo.load(path).explain(texts)`). From the outputs of a classification
export's `serving_default`, the page shows, per document, the label and every
class's probability, then the sentences as the model read them (its tokens,
lower-cased), a sentence's bar as dark as its weight and a word's background
as dark as its weight within its sentence (√(sentence weight) · word weight,
as the paper's figures shade them, so that a heavy word in a light sentence
stays light). The HTML page is self-contained (no script, no external file);
the PNG draws the same shading. `explain_html` and `explain_png` take the
signature's outputs.
"""

import html

import numpy as np


def _documents(outputs, class_names):
    """Per document: (label, [(class, probability)], valid, error, [(sentence weight, [(word, shade)])])."""
    documents = []
    for b in range(len(outputs["label"])):
        sentences = []
        for s, weight in enumerate(outputs["sentence_attention"][b]):
            words = [w.decode("utf-8", "replace") for w in outputs["words"][b][s]]
            shades = np.sqrt(weight) * outputs["word_attention"][b][s]
            real = [(word, float(shade)) for word, shade in zip(words, shades) if word]
            if real:
                sentences.append((float(weight), real))
        probabilities = list(zip(class_names, map(float, outputs["probabilities"][b])))
        documents.append((outputs["label"][b].decode("utf-8", "replace"), probabilities, bool(outputs["valid"][b]),
                          outputs["error"][b].decode("utf-8", "replace"), sentences))
    return documents


def explain_html(outputs, class_names, texts):
    """The page (str) for `serving_default`'s `outputs` (NumPy) on documents `texts`; every text is escaped."""
    parts = ["<!DOCTYPE html>", '<html><head><meta charset="utf-8"><title>Why the HAN decided</title><style>',
             "body{font-family:sans-serif;max-width:60em;margin:2em auto}"
             ".document{border-top:1px solid #ccc;padding:1em 0}"
             ".sentence{display:flex;gap:.6em;margin:.2em 0}"
             ".bar{flex:none;width:.6em}.word{padding:0 .15em;border-radius:.2em}"
             "table{border-collapse:collapse}td{padding:0 .6em}",
             "</style></head><body>"]
    for text, (label, probabilities, valid, error, sentences) in zip(texts, _documents(outputs, class_names)):
        parts.append('<div class="document">')
        if not valid:
            parts.append(f'<p class="error">not classified: {html.escape(error)}</p>')
        else:
            parts.append(f'<p>label: <b class="label">{html.escape(label)}</b></p><table>')
            parts += [f'<tr><td>{html.escape(name)}</td><td class="probability">{p:.3f}</td></tr>'
                      for name, p in probabilities]
            parts.append("</table>")
            for weight, words in sentences:
                bar = f'<span class="bar" style="background:rgba(31,119,180,{weight:.3f})" title="{weight:.3f}"></span>'
                spans = "".join(f'<span class="word" style="background:rgba(214,39,40,{shade:.3f})" '
                                f'title="{shade:.3f}">{html.escape(word)}</span> ' for word, shade in words)
                parts.append(f'<div class="sentence" data-weight="{weight:.4f}">{bar}<span>{spans}</span></div>')
        parts.append(f"<details><summary>the document</summary><pre>{html.escape(text)}</pre></details></div>")
    parts.append("</body></html>")
    return "\n".join(parts)


def explain_png(outputs, class_names, path, max_characters=90):
    """Draws the first document's shading to `path` (.png or .svg), a sentence a line (long ones wrap)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    label, probabilities, valid, error, sentences = _documents(outputs, class_names)[0]
    lines = []  # (the sentence's weight on its first line, else None; [(word, shade)])
    for weight, words in sentences:
        chunks, line, width = [], [], 0
        for word, shade in words:
            if line and width + len(word) + 1 > max_characters:
                chunks.append(line)
                line, width = [], 0
            line.append((word, shade))
            width += len(word) + 1
        chunks.append(line)
        lines += [(weight if i == 0 else None, chunk) for i, chunk in enumerate(chunks)]
    figure = Figure(figsize=(0.11 * max_characters + 1.0, 0.32 * (len(lines) + 2)))
    FigureCanvasAgg(figure)
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_xlim(-2, max_characters + 1)
    axes.set_ylim(len(lines) + 1.5, -0.5)
    axes.axis("off")
    if valid:
        heading = f"label: {label}   " + "   ".join(f"{name} {p:.2f}" for name, p in probabilities)
    else:
        heading = f"not classified: {error}"
    axes.text(0, 0, heading, family="monospace", fontsize=10, va="center", weight="bold")
    for row, (weight, words) in enumerate(lines, start=1):
        axes.add_patch(_box(-1.6, row, 0.8, (0.12, 0.47, 0.71, weight or 0.0)))
        x = 0.0
        for word, shade in words:
            axes.add_patch(_box(x - 0.15, row, len(word) + 0.3, (0.84, 0.15, 0.16, min(shade, 1.0))))
            axes.text(x, row, word, family="monospace", fontsize=10, va="center")
            x += len(word) + 1
    figure.savefig(path)


def _box(x, row, width, color):
    from matplotlib.patches import Rectangle

    return Rectangle((x, row - 0.4), width, 0.8, facecolor=color, edgecolor="none")
