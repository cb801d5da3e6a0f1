"""The zoo's command line: an export's task (`zoo.load`) on texts, pictures of handwriting.

    python -m zoo translate --export savedmodels/gnmt "A dog runs on the beach."
    python -m zoo translate --export savedmodels/gnmt --alignment alignment.png "A dog runs on the beach."
    python -m zoo classify --export savedmodels/han --html why.html --png why.png "The plot was superb."
    python -m zoo generate --export savedmodels/graves_text --length 300 "The "
    python -m zoo write --export savedmodels/graves_synthesis_iam --text "a new tale" line.svg --alignment window.png
    python -m zoo write --export savedmodels/graves_handwriting --steps 700 sample.png
    python -m zoo draw strokes.npy strokes.svg
    python -m zoo tflite --export savedmodels/gnmt_multi30k_en_de translation.tflite   # the float .tflite
    python -m zoo styles --export savedmodels/graves_synthesis --text "a style line"   # the page's styles
    python -m zoo demo --export savedmodels/graves_synthesis_iam   # the handwriting page (web/) on 127.0.0.1

`translate`, `classify` and `generate` read their texts from the command
line or, when none is given, from standard input, a line each, and print
a line per text; a text the export could not serve (an empty one) gets an
empty line and a warning on standard error. An error ends the command with
one line, `zoo <command>: error: ...`, and status 1 (2 for a usage error).
"""

import argparse
import json
import os
import sys


def main(argv=None):
    """Runs the command line on `argv` (default: `sys.argv[1:]`)."""
    args = _parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up notes
    try:
        args.run(args)
    except (OSError, ValueError) as e:
        message = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        args.parser.exit(1, f"{args.parser.prog}: error: {message}\n")


def _parser():
    parser = argparse.ArgumentParser(prog="zoo", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.split("\n")[1:]))
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name, run, help):
        sub = commands.add_parser(name, help=help, description=help)
        sub.set_defaults(run=run, parser=sub)
        return sub

    def export(sub, kinds):
        sub.add_argument("--export", required=True, metavar="DIR",
                         help=f"{kinds} export: savedmodels/<name> (its newest version) or a version directory")

    translate = command("translate", _translate, "Translate texts with a translation export.")
    export(translate, "a translation")
    translate.add_argument("texts", nargs="*", metavar="TEXT", help="texts to translate (default: stdin lines)")
    translate.add_argument("--beam_size", type=int, help="beam size (default: the export's)")
    translate.add_argument("--alpha", type=float, help="length penalty α (default: the export's)")
    translate.add_argument("--beta", type=float, help="coverage penalty β (default: the export's)")
    translate.add_argument("--n_best", type=int, default=1, help="translations printed per text, best first; "
                           "more than one: a blank line after each text's")
    translate.add_argument("--scores", action="store_true", help="print each translation's score, then a tab")
    translate.add_argument("--alignment", metavar="PICTURE", help="draw the text's alignment to a .png or .svg "
                           "(one text; models with attention)")
    translate.add_argument("--target", help="with --alignment: the translation to align (default: the model's)")

    classify = command("classify", _classify, "Classify documents with a classification export (prints labels).")
    export(classify, "a classification")
    classify.add_argument("texts", nargs="*", metavar="TEXT", help="documents (and --file's; none: stdin lines)")
    classify.add_argument("--file", action="append", default=[], help="a file holding one document (repeatable)")
    classify.add_argument("--html", metavar="PAGE", help="write why each document got its label, as an HTML page")
    classify.add_argument("--png", metavar="PICTURE", help="draw why the first document got its label (.png, .svg)")

    generate = command("generate", _generate, "Write text after a prime with a text export.")
    export(generate, "a text")
    generate.add_argument("primes", nargs="*", metavar="PRIME", help="texts to go on from (default: stdin lines)")
    generate.add_argument("--length", type=int, default=200, help="characters to write")
    generate.add_argument("--temperature", type=float, default=1.0, help="sampling temperature, 0 = greedy")
    generate.add_argument("--seed", type=int, default=0, help="sampling seed")

    write = command("write", _write, "Write handwriting to a picture: texts with a synthesis export, or a "
                    "sample of a handwriting export.")
    export(write, "a synthesis or handwriting")
    write.add_argument("output", metavar="PICTURE", help="the picture to write: a .svg or .png file")
    write.add_argument("--text", action="append", help="a line to write, a row each (synthesis)")
    write.add_argument("--steps", type=int, help="points to sample (handwriting; default 700)")
    write.add_argument("--bias", type=float, default=1.0, help="sampling bias, 0 = unbiased")
    write.add_argument("--seed", type=int, default=0, help="sampling seed")
    write.add_argument("--alignment", metavar="PICTURE", help="also draw each row's window here (synthesis)")
    write.add_argument("--style", metavar="STROKES", help="write in this hand: strokes in .npy or .json (synthesis)")
    write.add_argument("--style_text", help="what the --style strokes write")

    tflite = command("tflite", _tflite, "Convert an export's model to a .tflite file again: float, or with "
                     "--quantize its weights int8 (a shipped export may carry only one of the two).")
    export(tflite, "any")
    tflite.add_argument("output", metavar="FILE", help="the .tflite file to write")
    tflite.add_argument("--quantize", action="store_true", help="dynamic-range quantisation: int8 weights, float "
                        "activations (about a quarter of the size)")

    styles = command("styles", _styles, "Write the handwriting page's styles: lines a synthesis export writes "
                     "itself at bias 0, to prime it with (assets.extra/styles.json of the export).")
    export(styles, "a synthesis")
    styles.add_argument("--text", action="append", required=True, help="a style's text (repeatable)")
    styles.add_argument("--seed", type=int, default=0, help="sampling seed")

    demo = command("demo", _demo, "Serve the handwriting page (web/) for a synthesis export on 127.0.0.1 and "
                   "print its address: the page's files and the export's, nothing else; nothing is written.")
    export(demo, "a synthesis")
    demo.add_argument("--port", type=int, default=0, help="the port (default: a free one)")

    draw = command("draw", _draw, "Draw strokes from a file.")
    draw.add_argument("strokes", metavar="STROKES", help="[n, 3] offsets (dx, dy, end_of_stroke) in .npy, or .json "
                      "holding the rows or an object with a \"strokes\" key")
    draw.add_argument("output", metavar="PICTURE", help="the picture to write: a .svg or .png file")
    return parser


def _translate(args):
    texts = _texts(args, args.texts)
    if args.alignment and len(texts) != 1:
        args.parser.error(f"--alignment draws one text's alignment, got {len(texts)} texts")
    if args.target is not None and not args.alignment:
        args.parser.error("--target is the translation --alignment aligns: give --alignment")
    _check_picture(args.alignment)
    translator = _load(args, "translation")
    if args.alignment and "alignment" not in translator.signatures:  # before translating
        raise ValueError(f"{translator.path}: {translator.metadata['class_name']} has no attention: no alignment "
                         "to draw")
    results = translator.translate(texts, args.beam_size, args.alpha, args.beta, args.n_best)
    for number, result in enumerate(results, start=1):
        hypotheses = result if args.n_best > 1 else [result]
        _warn_unless_served(args, number, hypotheses[0].error)
        for hypothesis in hypotheses:
            print(f"{hypothesis.score:.4f}\t{hypothesis.text}" if args.scores else hypothesis.text)
        if args.n_best > 1:
            print()
    if args.alignment:
        best = results[0][0] if args.n_best > 1 else results[0]
        alignment = translator.alignment(texts[0], best.text if args.target is None else args.target)
        if alignment.error:
            raise ValueError(f"cannot align: {alignment.error}")
        print(f"written: {alignment.save(args.alignment)}", file=sys.stderr)


def _classify(args):
    texts = list(args.texts)
    for path in args.file:
        with open(path, encoding="utf-8", errors="replace") as f:
            texts.append(f.read())
    texts = _texts(args, texts)
    _check_picture(args.png)
    classifier = _load(args, "classification")
    for number, result in enumerate(classifier.classify(texts), start=1):
        _warn_unless_served(args, number, result.error)
        print(result.label)
    if args.html:
        with open(args.html, "w", encoding="utf-8") as f:
            f.write(classifier.explain(texts))
        print(f"written: {args.html}", file=sys.stderr)
    if args.png:
        print(f"written: {classifier.draw_explanation(texts[0], args.png)}", file=sys.stderr)


def _generate(args):
    primes = _texts(args, args.primes)
    generator = _load(args, "text")
    for number, result in enumerate(generator.generate(primes, args.length, args.temperature, args.seed), start=1):
        _warn_unless_served(args, number, result.error)
        print(result.text)


def _write(args):
    from zoo import strokes, tasks

    if args.text is not None and not all(args.text):
        args.parser.error("--text must not be empty")
    if (args.style is None) != (args.style_text is None):
        args.parser.error("--style and --style_text go together")
    if args.text is None and (args.alignment or args.style):
        args.parser.error("--alignment and --style need --text (a synthesis export)")
    for picture in (args.output, args.alignment):
        _check_picture(picture)
    directory, family = _export(args, "synthesis", "handwriting")
    if family == "handwriting":
        if args.text is not None:
            raise ValueError(f"{directory} is a handwriting export: it samples (--steps), it takes no --text")
        sample = tasks.load(directory).sample(700 if args.steps is None else args.steps, args.bias, args.seed)
        print(sample.save(args.output))
        return
    if args.text is None or args.steps is not None:
        raise ValueError(f"{directory} is a synthesis export: give --text, and no --steps")
    style = tasks.Handwriting(_read_strokes(args.style), text=args.style_text) if args.style else None
    lines = tasks.load(directory).write(args.text, args.bias, args.seed, style)
    for number, line in enumerate(lines, start=1):
        if not line.finished:
            print(f"{args.parser.prog}: note: text {number} ({line.text!r}) ran out of steps", file=sys.stderr)
    print(strokes.save_batch([line.points for line in lines], args.output))
    if args.alignment:
        print(strokes.save_alignment([line.alignment for line in lines], [line.text for line in lines],
                                     args.alignment, strokes=[line.points for line in lines]))


def _styles(args):
    from zoo import web

    print(f"written: {web.write_styles(_export(args, 'synthesis')[0], args.text, args.seed)}", file=sys.stderr)


def _demo(args):
    from zoo import web

    if not 0 <= args.port <= 65535:
        args.parser.error(f"--port must be in [0, 65535], got {args.port}")
    server = web.serve(_export(args, "synthesis")[0], args.port)
    print(f"http://127.0.0.1:{server.server_address[1]}/  (Ctrl-C stops the server)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def _draw(args):
    from zoo import strokes

    print(strokes.save(_read_strokes(args.strokes), args.output))


def _tflite(args):
    from zoo.export.convert import export_tflite

    if not args.output.endswith(".tflite"):
        args.parser.error(f"{args.output}: the output must be a .tflite file")
    content = export_tflite(args.export, args.quantize)
    with open(args.output + ".part", "wb") as f:
        f.write(content)
    os.replace(args.output + ".part", args.output)
    print(f"written: {args.output} ({len(content) / 1e6:.1f} MB{', quantised' if args.quantize else ''})",
          file=sys.stderr)


def _texts(args, given):
    """The texts given, or else standard input's lines; a usage error if there are none."""
    texts = list(given) or [line.rstrip("\r\n") for line in sys.stdin]
    if not texts:
        args.parser.error("no text: give texts as arguments or lines on standard input")
    return texts


def _check_picture(path):
    """A picture's extension, checked before anything slow runs."""
    if path is not None:
        from zoo import strokes

        strokes.picture_format(path)


def _export(args, *families):
    """The version directory of `--export` and its family, one of `families` (read before anything is loaded)."""
    from zoo.export import reader

    directory = reader.version_dir(args.export)
    family = reader.read_metadata(directory)["family"]
    if family not in families:
        raise ValueError(f"{directory} is a {family} export; {args.parser.prog} takes a {' or '.join(families)} "
                         "export")
    return directory, family


def _load(args, family):
    """The task of `--export`, an export of `family`."""
    from zoo import tasks

    return tasks.load(_export(args, family)[0])


def _warn_unless_served(args, number, error):
    if error:
        print(f"{args.parser.prog}: warning: text {number}: {error}", file=sys.stderr)


def _read_strokes(path):
    """Strokes from a `.npy` file, or a `.json` file of rows or of an object with a "strokes" key."""
    import numpy as np

    extension = os.path.splitext(path)[1].lower()
    if extension == ".npy":
        return np.load(path, allow_pickle=False)
    if extension != ".json":
        raise ValueError(f"{path}: expected strokes in a .npy or .json file")
    with open(path, encoding="utf-8") as file:
        strokes = json.load(file)
    if isinstance(strokes, dict):
        if "strokes" not in strokes:
            raise ValueError(f"{path}: a JSON object of strokes needs a \"strokes\" key")
        strokes = strokes["strokes"]
    return strokes


if __name__ == "__main__":
    sys.exit(main())
