"""An expat parser that refuses DTDs, for notifications and for masking request bodies.

Its own module so that both can import it: the notification module masks URLs
with the masking module, which reads XML with this parser.
"""

from __future__ import annotations

from collections.abc import Callable
from xml.parsers import expat

__all__ = ["RefusedDoctype", "safe_xml_parser"]


class RefusedDoctype(ValueError):
    """An XML document that declares a DOCTYPE or an entity: refused, nothing is expanded."""


def _refuse_dtd(*_args: object) -> None:
    msg = "XML declares a DOCTYPE or entity; refused (entity expansion)"
    raise RefusedDoctype(msg)


def safe_xml_parser(
    *,
    start: Callable[[str, dict[str, str]], None],
    end: Callable[[str], None],
    text: Callable[[str], None],
    encoding: str | None = None,
    namespaces: bool = True,
) -> expat.XMLParserType:
    """An expat parser calling these handlers, that refuses any DOCTYPE, and with it
    entity expansion (:class:`RefusedDoctype`).

    :param start: called with an element's name and attributes.
    :param end: called with an element's name.
    :param text: called with character data (CDATA sections included).
    :param encoding: overrides the document's own declaration.
    :param namespaces: report names as ``"namespace-uri local"``; else as written.
    """
    parser = expat.ParserCreate(encoding, " " if namespaces else None)
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse_dtd
    parser.EntityDeclHandler = _refuse_dtd
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    return parser
