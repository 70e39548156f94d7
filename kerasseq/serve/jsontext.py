"""JSON text that always encodes to UTF-8, whatever strings a client or a command line sent."""

import json


def dumps(obj, **options):
    """`obj` as JSON text (`options` as for json.dumps), non-ASCII characters as they are; when it holds lone
    surrogates (a JSON `"\\ud800"` escape from a client, undecodable bytes in a command-line argument), which
    UTF-8 cannot encode, every non-ASCII character is written as a `\\uXXXX` escape instead: the text
    round-trips exactly and never fails to encode."""
    text = json.dumps(obj, ensure_ascii=False, **options)
    if text.isascii():  # the common case: nothing to encode to find out
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(obj, **options)
    return text


def printable(text):
    """`text` with lone surrogates shown as `\\udXXX` escapes (for plots and terminals)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
