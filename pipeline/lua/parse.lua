-- Parse every Markdown file of a publication in one pandoc process.
-- stdin: a JSON array of the files' texts, in reading order.
-- stdout: one pandoc JSON document whose top-level blocks are one Div per
-- file, so that each file keeps its own footnote labels and positions.
--
-- Why Markdown content cannot make this read other files: the texts come
-- in on stdin and are handed to pandoc.read as strings, never evaluated as
-- Lua; the reader runs sandboxed (the fourth argument, an empty list of
-- files, gives it an empty ersatz file system, like `pandoc --sandbox`),
-- so anything in the text that names a file -- an image path, a LaTeX
-- \input or \include (raw_tex is off as well) -- stays a string in the AST
-- and is checked by pipeline/source.py; and this script itself opens
-- nothing but stdin and stdout.
local texts = pandoc.json.decode(io.read('a'), false)
local blocks = pandoc.Blocks{}
for i, text in ipairs(texts) do
  local doc = pandoc.read(text, 'markdown-raw_tex', nil, {})
  blocks:insert(pandoc.Div(doc.blocks, pandoc.Attr('', {'source-file'}, {index = tostring(i)})))
end
io.write(pandoc.write(pandoc.Pandoc(blocks), 'json'))
