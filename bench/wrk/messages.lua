-- wrk script: POST an Anthropic Messages request (OpenRouter's /api/v1/messages) with an x-api-key, as the
-- anthropic SDK sends it; the Messages counterpart of chat.lua: the same question, the same result line.
--
-- Environment (read once per wrk thread):
--   BENCH_KEY     key sent as "x-api-key: <key>"                       (default "sk-bench")
--   BENCH_MODEL   model name                                           (default "anthropic/claude-3.5-haiku")
--   BENCH_STREAM  "1" -> "stream": true                                (default "0")
--   BENCH_TAG     free text copied into the result line                (default "")
--
-- At the end it prints one machine-readable line, starting with "BENCH_RESULT " (result.lua).

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or ""  -- this file's folder, for result.lua

local key    = os.getenv("BENCH_KEY") or "sk-bench"
local model  = os.getenv("BENCH_MODEL") or "anthropic/claude-3.5-haiku"
local stream = os.getenv("BENCH_STREAM") == "1"

local body = '{"model":"' .. model .. '",' ..
    '"max_tokens":64,' ..
    '"system":"You are a concise assistant.",' ..
    '"messages":[' ..
        '{"role":"user","content":"In one sentence, what does a reverse proxy do?"}' ..
    '],' ..
    '"temperature":0.2'
if stream then
    body = body .. ',"stream":true'
end
body = body .. '}'

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
wrk.headers["x-api-key"] = key
wrk.headers["anthropic-version"] = "2023-06-01"
if stream then
    wrk.headers["Accept"] = "text/event-stream"
else
    wrk.headers["Accept"] = "application/json"
end

done = dofile(here .. "result.lua")(stream)
