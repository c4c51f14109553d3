"""Puts a generated section into BENCHMARKS.md between its two markers
(appended at the end the first time), for the benchmarks' render scripts."""


def replace_section(md_path, begin, end, generated):
    try:
        with open(md_path) as f:
            text = f.read()
    except FileNotFoundError:
        text = "# Benchmarks\n"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        tail = rest.split(end, 1)[1]
        text = head + generated + tail
    else:
        text = text.rstrip("\n") + "\n\n" + generated + "\n"
    with open(md_path, "w") as f:
        f.write(text)
