"""A new user's pass over the thirty-first session's changes (posterior draws stored with the parameter set, the SBML
export's solver note, the tornado figure): what the help texts say exists, and what a bad input does."""

from __future__ import annotations

import re


def test_every_command_line_quoted_in_the_help_texts_names_existing_options():
    """`ketasim posterior-draws --help` said the stored draws serve `qualify --parameter-draws N`: qualify has no such
    option (it is --uncertainty). Every backquoted `[ketasim] COMMAND --option ...` in a command's help or an option's
    help must name an option of that command."""
    import typer

    from ketasim.cli import app

    commands = typer.main.get_command(app).commands
    texts = []
    for name, cmd in commands.items():
        texts.append((name, cmd.help or ""))
        texts += [(f"{name} {p.opts[0]}", getattr(p, "help", None) or "") for p in cmd.params]
    bad, seen = [], 0
    for where, text in texts:
        for m in re.finditer(r"`(?:ketasim )?([a-z][a-z-]*)((?: [^`]*)?)`", " ".join(text.split())):
            sub, rest = m.group(1), m.group(2)
            if sub not in commands:
                continue
            known = {o for p in commands[sub].params for o in (*p.opts, *p.secondary_opts)}
            for option in re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", rest):
                seen += 1
                if option not in known:
                    bad.append(f"{where}: {m.group(0)}: {sub} has no {option}")
    assert seen >= 5 and not bad, bad
