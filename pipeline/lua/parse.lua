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
-- and is checked by pipeline/source/; and this script itself opens
-- nothing but stdin and stdout.
--
-- The files are one publication, so what pandoc does within a file is done
-- here across them (each step below says which):
--   * heading ids: a heading whose id pandoc made from its text gets the
--     next free number when an earlier file (or an explicit {#id}
--     anywhere) already has that id -- summary, summary-1, ... as pandoc
--     numbers repeats within a file; links in the same file follow;
--   * references: a [text][label] or [label] that the file does not
--     define but another file does (a link reference definition, or a
--     heading's text) is resolved as if the definition were in the file;
--   * HTML comments are dropped (they must never reach an output);
--     a lone raw <img> becomes an image, <a id> an anchor, <br> a line
--     break, so that the source check sees them as what they are;
--   * a heading inside a block quote, list or div is not part of the
--     outline: it becomes a paragraph styled as a heading.
-- Emoji shortcodes (:smile:) are read as GitHub reads them: the emoji, in a
-- span of class "emoji" that keeps the name.
local FORMAT = 'markdown-raw_tex+emoji'

local texts = pandoc.json.decode(io.read('a'), false)

local ALERT_KINDS = {NOTE = true, TIP = true, IMPORTANT = true, WARNING = true, CAUTION = true}

local function alert_labels_alone(text)
  -- "> [!NOTE]" then "> - item": GitHub reads the label line on its own,
  -- so the lines after it are blocks (a list, a code block); pandoc would
  -- read them into the label's paragraph. An empty quote line after the
  -- label, outside fenced code, makes pandoc read them as GitHub does.
  if not text:find('[!', 1, true) then return text end
  local out, fence = {}, nil
  for line in (text .. '\n'):gmatch('(.-)\n') do
    out[#out + 1] = line
    local mark = line:match('^ ? ? ?(```+)') or line:match('^ ? ? ?(~~~+)')
    if mark then
      if not fence then fence = mark:sub(1, 1) elseif mark:sub(1, 1) == fence then fence = nil end
    elseif not fence then
      local prefix, kind = line:match('^([ \t]*>[> \t]*)%[!(%u+)%][ \t\r]*$')
      if prefix and ALERT_KINDS[kind] then out[#out + 1] = (prefix:gsub('[ \t]+$', '')) end
    end
  end
  return table.concat(out, '\n')
end

local function read(text)
  return pandoc.read(alert_labels_alone(text), FORMAT, nil, {})
end

local function norm(s)
  return (s:lower():gsub('%s+', ' '):gsub('^ ', ''):gsub(' $', ''))
end

local function escape(s)
  return (s:gsub('%p', '%%%0'))
end

-- link reference definitions of a file (outside fenced code): norm(label) -> line
local function ref_defs(text)
  local defs = {}
  local fence
  for line in (text .. '\n'):gmatch('([^\n]*)\n') do
    local f = line:match('^ ? ? ?(```+)') or line:match('^ ? ? ?(~~~+)')
    if f then
      if not fence then
        fence = f:sub(1, 1)
      elseif f:sub(1, 1) == fence then
        fence = nil
      end
    elseif not fence then
      local label = line:match('^ ? ? ?%[([^%]]+)%]:')
      if label and not label:match('^%^') then
        local k = norm(label)
        if defs[k] == nil then defs[k] = line:gsub('\r$', '') end
      end
    end
  end
  return defs
end

-- ---------------------------------------------------------------- raw HTML

local function strip_comments(raw)
  return (raw:gsub('<!%-%-.-%-%->', ''))
end

local function single_tag(raw, name)
  -- the attributes of raw if it is exactly one <name ...> tag
  local tag, rest = raw:match('^%s*<([%a][%w]*)(.-)/?>%s*$')
  if tag and tag:lower() == name and not rest:find('[<>]') then return rest end
end

local function attr_value(attrs, name)
  local v = attrs:match('[%s]' .. name .. '%s*=%s*"([^"]*)"')
    or attrs:match('[%s]' .. name .. "%s*=%s*'([^']*)'")
    or attrs:match('[%s]' .. name .. '%s*=%s*([^%s"\'>]+)')
  return v
end

local function html_image(raw)
  -- pandoc's HTML reader turns <img src alt width height> into an Image
  local ok, doc = pcall(pandoc.read, raw, 'html', nil, {})
  if not ok then return nil end
  local found
  doc:walk({ Image = function(img) found = found or img end })
  return found
end

local function raw_inlines(inlines)
  -- most lists of inlines hold no raw HTML: left as they are (nil), not copied
  local any = false
  for _, el in ipairs(inlines) do
    if el.t == 'RawInline' then any = true; break end
  end
  if not any then return nil end
  local out = pandoc.Inlines{}
  local i = 1
  while i <= #inlines do
    local el = inlines[i]
    local handled = false
    if el.t == 'RawInline' and el.format:match('^html') then
      local raw = strip_comments(el.text)
      if raw:match('^%s*$') then
        handled = true
      elseif single_tag(raw, 'img') then
        local img = html_image(raw)
        if img then out:insert(img); handled = true end
      elseif single_tag(raw, 'br') then
        out:insert(pandoc.LineBreak()); handled = true
      elseif single_tag(raw, 'a') then
        local attrs = single_tag(raw, 'a')
        local id = attr_value(' ' .. attrs, 'id') or attr_value(' ' .. attrs, 'name')
        -- only anchors: <a href> stays raw HTML, for the source check to judge
        local href = attr_value(' ' .. attrs, 'href')
        if href or attrs:lower():find('href') then id = nil end
        -- find the matching </a> among the following inlines
        local close
        for j = i + 1, #inlines do
          local e = inlines[j]
          if e.t == 'RawInline' and e.format:match('^html') then
            if e.text:lower():match('^%s*</a%s*>%s*$') then close = j end
            break  -- any other raw HTML in between: leave it as it is
          end
        end
        if close and id and not id:find('[&<>"\']') then
          local content = pandoc.Inlines{}
          for j = i + 1, close - 1 do content:insert(inlines[j]) end
          out:insert(pandoc.Span(content, pandoc.Attr(id, {}, {})))
          i = close
          handled = true
        end
      end
      if not handled and raw ~= el.text then
        el.text = raw
      end
    end
    if not handled then out:insert(el) end
    i = i + 1
  end
  return out
end

local function anchors_only(b)
  -- a paragraph of nothing but <a id="x"></a> anchors
  if b.t ~= 'Para' and b.t ~= 'Plain' then return false end
  local any = false
  for _, el in ipairs(b.content) do
    if el.t == 'Span' and el.identifier ~= '' and #el.content == 0 then
      any = true
    elseif el.t ~= 'Space' and el.t ~= 'SoftBreak' and el.t ~= 'LineBreak' then
      return false
    end
  end
  return any
end

local function carry_anchors(blocks)
  -- anchors written on a line of their own go into the next heading or
  -- paragraph, so that a part still begins with its title
  local any = false
  for _, b in ipairs(blocks) do
    if anchors_only(b) then any = true; break end
  end
  if not any then return nil end  -- no anchor on a line of its own: nothing to carry, nothing copied
  local out = pandoc.Blocks{}
  local pending = pandoc.Inlines{}
  for _, b in ipairs(blocks) do
    if anchors_only(b) then
      for _, el in ipairs(b.content) do
        if el.t == 'Span' then pending:insert(el) end
      end
    else
      if #pending > 0 and (b.t == 'Header' or b.t == 'Para' or b.t == 'Plain') then
        local content = pandoc.Inlines{}
        content:extend(pending)
        content:extend(b.content)
        b.content = content
        pending = pandoc.Inlines{}
      elseif #pending > 0 then
        out:insert(pandoc.Plain(pending))
        pending = pandoc.Inlines{}
      end
      out:insert(b)
    end
  end
  if #pending > 0 then out:insert(pandoc.Plain(pending)) end
  return out
end

-- ------------------------------------------------------- GitHub alerts

local ALERTS = {NOTE = 'Note', TIP = 'Tip', IMPORTANT = 'Important', WARNING = 'Warning', CAUTION = 'Caution'}

local function alert(quote)
  -- > [!NOTE] ... : a quote that begins with its label, kept as a quote
  -- (every format styles those) in a div naming its kind
  local first = quote.content[1]
  if not first or (first.t ~= 'Para' and first.t ~= 'Plain') then return nil end
  local head = first.content[1]
  local kind = head and head.t == 'Str' and head.text:match('^%[!(%u+)%]$')
  if not kind or not ALERTS[kind] then return nil end
  local rest = pandoc.Inlines{}
  for j = 2, #first.content do rest:insert(first.content[j]) end
  while #rest > 0 and (rest[1].t == 'SoftBreak' or rest[1].t == 'LineBreak' or rest[1].t == 'Space') do rest:remove(1) end
  local blocks = pandoc.Blocks{pandoc.Para({pandoc.Strong({pandoc.Str(ALERTS[kind])})})}
  if #rest > 0 then blocks:insert(pandoc.Para(rest)) end
  for j = 2, #quote.content do blocks:insert(quote.content[j]) end
  return pandoc.Div({pandoc.BlockQuote(blocks)}, pandoc.Attr('', {'alert', 'alert-' .. kind:lower()}, {}))
end

local function boxed(div)
  -- ::: warning ... ::: (a fenced div named like an alert, as pandoc's manual
  -- writes one): the same labelled quote as > [!WARNING]; its id is kept
  if #div.classes ~= 1 then return nil end
  local kind = div.classes[1]:upper()
  if not ALERTS[kind] or div.classes[1] ~= kind:lower() then return nil end
  local blocks = pandoc.Blocks{pandoc.Para({pandoc.Strong({pandoc.Str(ALERTS[kind])})})}
  blocks:extend(div.content)
  return pandoc.Div({pandoc.BlockQuote(blocks)}, pandoc.Attr(div.identifier, {'alert', 'alert-' .. div.classes[1]}, div.attributes))
end

local PAGE_BREAKS = {['\\newpage'] = true, ['\\pagebreak'] = true, ['\\clearpage'] = true}

local function page_break(para)
  -- \newpage (or \pagebreak, \clearpage) alone in its paragraph, as pandoc
  -- documents write it for LaTeX: a page break in the PDF, nothing on a page
  if #para.content == 1 and para.content[1].t == 'Str' and PAGE_BREAKS[para.content[1].text] then
    return pandoc.Div({}, pandoc.Attr('', {'page-break'}, {}))
  end
end

local function definitions_in_paragraphs(dl)
  -- a definition of several blocks ("Term", ":   A.", a blank line, "    B.")
  -- that pandoc reads as tight keeps its first lines as Plain, which every
  -- format runs into the next paragraph: each becomes a paragraph
  local changed = false
  for _, item in ipairs(dl.content) do
    for _, blocks in ipairs(item[2]) do
      if #blocks > 1 then
        for j, b in ipairs(blocks) do
          if b.t == 'Plain' then blocks[j] = pandoc.Para(b.content); changed = true end
        end
      end
    end
  end
  if changed then return dl end
end

local function clean_raw(doc)
  doc = doc:walk({
    Inlines = raw_inlines,
    RawBlock = function(el)
      if not el.format:match('^html') then return nil end
      local raw = strip_comments(el.text)
      if raw:match('^%s*$') then return {} end
      if raw ~= el.text then el.text = raw; return el end
    end,
  })
  return doc:walk({ BlockQuote = alert, Div = boxed, Para = page_break, DefinitionList = definitions_in_paragraphs })
    :walk({ Blocks = carry_anchors })
end

-- ------------------------------------------------------- headings out of the outline

local function minor_heading(h)
  local attr = pandoc.Attr(h.identifier, {'minor-heading'}, {{'data-level', tostring(h.level)}})
  return pandoc.Div({pandoc.Para({pandoc.Strong(h.content)})}, attr)
end

local function demote_nested(blocks)
  -- headings at the top of the file are the outline; any other is not
  local out = pandoc.Blocks{}
  for _, b in ipairs(blocks) do
    if b.t == 'Header' then
      out:insert(b)
    else
      out:insert(b:walk({ Header = minor_heading }))
    end
  end
  return out
end

-- ---------------------------------------------------------------- parse

local docs = {}
for i, text in ipairs(texts) do
  docs[i] = clean_raw(read(text))
end

-- ids written by hand anywhere ({#id} on a heading, a span, a div ...)
-- and ids the HTML writer and the renderer make themselves
local explicit = {}
local function is_explicit_heading(text, id)
  return id ~= '' and text:find('{[^}\n]*#' .. escape(id) .. '[%s}]') ~= nil
end
for i, doc in ipairs(docs) do
  local function note(el)
    if el.identifier and el.identifier ~= '' then explicit[el.identifier] = true end
  end
  doc:walk({
    Header = function(h)
      if is_explicit_heading(texts[i], h.identifier) then explicit[h.identifier] = true end
    end,
    Span = note, Div = note, Code = note, CodeBlock = note, Link = note, Image = note, Table = note, Figure = note,
  })
end
local function reserved(id)
  return id == 'footnotes' or id:match('^footnotes%-%d+$') or id:match('^fn%d+$') or id:match('^fnref%d+$')
    or id:match('^part%-%d+$') or id:match('^front%-%d+$') or id:match('^back%-%d+$')
end

-- heading ids, numbered across the publication
local taken = {}
local counters = {}
local final_ids = {}    -- per file: the final id of each heading, in order
local headings = {}     -- norm(text) -> id, first in reading order
local local_heads = {}  -- per file: norm(text) -> true
for i, doc in ipairs(docs) do
  local ids, renames, seen_here, heads = {}, {}, {}, {}
  doc:walk({
    Header = function(h)
      local id = h.identifier
      if not is_explicit_heading(texts[i], id) and (taken[id] or reserved(id) or (explicit[id] and not seen_here[id])) then
        local base, n = id:match('^(.*)%-(%d+)$')
        if not (base and seen_here[base]) then base = id end
        if base == '' then base = 'section' end
        local new
        -- the writer's own ids (footnotes-2, fn3, part-1) are not numbered on
        if reserved(base) then
          base = base .. '-section'
          if not (taken[base] or explicit[base]) then new = base end
        end
        if not new then
          local k = counters[base] or 1
          while taken[base .. '-' .. k] or explicit[base .. '-' .. k] or reserved(base .. '-' .. k) do k = k + 1 end
          counters[base] = k + 1
          new = base .. '-' .. k
        end
        renames[id] = renames[id] or new
        id = new
      end
      seen_here[h.identifier] = true
      taken[id] = true
      ids[#ids + 1] = id
      local label = norm(pandoc.utils.stringify(h.content))
      heads[label] = true
      if headings[label] == nil then headings[label] = id end
    end,
  })
  final_ids[i] = {ids = ids, renames = renames}
  local_heads[i] = heads
end

-- references defined in another file
local all_defs = {}
local defs_of = {}
for i, text in ipairs(texts) do
  defs_of[i] = ref_defs(text)
  for k, line in pairs(defs_of[i]) do
    if all_defs[k] == nil then all_defs[k] = {file = i, line = line} end
  end
end
-- the first definition in reading order wins, as within a file
for i, text in ipairs(texts) do
  local extra, added = {}, {}
  -- every [bracketed text] but an inline link's, [text](target), which
  -- refers to nothing (a book's links to its own headings would each cost
  -- the file a second parse: 2.8 s of 5.9 on a 300-page book)
  local pos = 1
  while true do
    local s, e, label = text:find('%[([^%[%]\n]+)%]', pos)
    if not s then break end
    pos = e + 1
    local k = norm(label)
    if text:sub(e + 1, e + 1) ~= '(' and not added[k] and not defs_of[i][k] and not local_heads[i][k] then
      local d = all_defs[k]
      if d then
        extra[#extra + 1] = d.line
        added[k] = true
      elseif headings[k] and not label:find('^%^') then
        extra[#extra + 1] = '[' .. label .. ']: #' .. headings[k]
        added[k] = true
      end
    end
  end
  if #extra > 0 then
    table.sort(extra)
    docs[i] = clean_raw(read(text .. '\n\n' .. table.concat(extra, '\n') .. '\n'))
  end
end

local blocks = pandoc.Blocks{}
for i, doc in ipairs(docs) do
  local f = final_ids[i]
  local n = 0
  doc = doc:walk({
    Header = function(h)
      n = n + 1
      h.identifier = f.ids[n]
      return h
    end,
  })
  if next(f.renames) then
    doc = doc:walk({
      Link = function(l)
        local frag = l.target:match('^#(.*)$')
        if frag and f.renames[frag] then
          l.target = '#' .. f.renames[frag]
          return l
        end
      end,
    })
  end
  -- a list of pairs, and the renames in the order of their ids, not of
  -- Lua's hash tables (seeded at random): the same source, the same bytes
  local attrs = {{'index', tostring(i)}}
  if next(f.renames) then
    local keys, parts = {}, {}
    for k in pairs(f.renames) do keys[#keys + 1] = k end
    table.sort(keys)
    for _, k in ipairs(keys) do parts[#parts + 1] = pandoc.json.encode(k) .. ':' .. pandoc.json.encode(f.renames[k]) end
    attrs[#attrs + 1] = {'renamed', '{' .. table.concat(parts, ',') .. '}'}
  end
  blocks:insert(pandoc.Div(demote_nested(doc.blocks), pandoc.Attr('', {'source-file'}, attrs)))
end
io.write(pandoc.write(pandoc.Pandoc(blocks), 'json'))
