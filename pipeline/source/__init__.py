"""Load a publication folder, validate it, and parse its Markdown once.

``load(folder)`` returns a ``Publication`` or raises ``SourceError`` with
every problem found in one pass, each naming its file and line.

One module per job:

- ``yamldoc``: publication.yaml read as YAML, with the line of every key;
- ``validate``: publication.yaml held against its JSON schema;
- ``files``: the files of the folder, kept inside it, and their names;
- ``outline``: the Markdown files in reading order, the headings' levels,
  numbers and ids, and the metadata;
- ``limits``: the limits on the Markdown, checked before pandoc parses it;
- ``markdown``: the Markdown through pandoc and pipeline/lua/parse.lua;
- ``locate``: where an element of pandoc's AST is written in its file;
- ``safety``: raw HTML, URLs and CSS that would run or load something;
- ``targets``: links, images and raw HTML checked, and what the build changes;
- ``references``: reference links and notes that would print as written;
- ``decorate``: alert labels, printed characters, numbered headings;
- ``loader``: ``load``, which runs them in order.
"""

from pipeline.source.files import PUBLICATION_FILE, source_files
from pipeline.source.limits import LIMITS
from pipeline.source.loader import load
from pipeline.source.outline import MAX_HEADING_LEVEL
from pipeline.source.safety import HTML_ELEMENTS, HTML_FAMILY, clean_html, css_loads, raw_is_html, unsafe_html
from pipeline.source.validate import _schema_problems, schema
from pipeline.source.yamldoc import MAX_YAML_DEPTH, YamlDoc, _Loader, _read_yaml

__all__ = ["HTML_ELEMENTS", "HTML_FAMILY", "LIMITS", "MAX_HEADING_LEVEL", "MAX_YAML_DEPTH", "PUBLICATION_FILE",
           "YamlDoc", "_Loader", "_read_yaml", "_schema_problems", "clean_html", "css_loads", "load",
           "raw_is_html", "schema", "source_files", "unsafe_html"]
