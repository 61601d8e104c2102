-- Parse every Markdown file of a publication in one pandoc process.
-- stdin: a JSON array of the files' texts, in reading order.
-- stdout: one pandoc JSON document whose top-level blocks are one Div per
-- file, so that each file keeps its own footnote labels and positions.
local texts = pandoc.json.decode(io.read('a'), false)
local blocks = pandoc.Blocks{}
for i, text in ipairs(texts) do
  local doc = pandoc.read(text, 'markdown-raw_tex')
  blocks:insert(pandoc.Div(doc.blocks, pandoc.Attr('', {'source-file'}, {index = tostring(i)})))
end
io.write(pandoc.write(pandoc.Pandoc(blocks), 'json'))
