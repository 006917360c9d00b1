-- wrk script: POST an OpenAI-style chat completion request with a bearer key.
-- Adapted from ../shared/bench/wrk/chat.lua: the same request and result line, plus p99.9 and p99.99
-- ("p999_ms", "p9999_ms"), which bench/gateway_targets.py checks.
--
-- Environment (read once per wrk thread):
--   BENCH_KEY     bearer token sent as "Authorization: Bearer <key>"   (default "sk-bench")
--   BENCH_MODEL   model name                                           (default "openai/gpt-4o-mini")
--   BENCH_STREAM  "1" -> "stream": true plus stream_options.include_usage  (default "0")
--   BENCH_TAG     free text copied into the result line                (default "")
--   BENCH_HEADERS extra headers, "Name: value; Name2: value"           (default none)
--
-- At the end it prints one machine-readable line, starting with "BENCH_RESULT " (result.lua, which
-- messages.lua prints too).

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or ""  -- this file's folder, for result.lua

local key    = os.getenv("BENCH_KEY") or "sk-bench"
local model  = os.getenv("BENCH_MODEL") or "openai/gpt-4o-mini"
local stream = os.getenv("BENCH_STREAM") == "1"

local body = '{"model":"' .. model .. '",' ..
    '"messages":[' ..
        '{"role":"system","content":"You are a concise assistant."},' ..
        '{"role":"user","content":"In one sentence, what does a reverse proxy do?"}' ..
    '],' ..
    '"max_tokens":64,"temperature":0.2'
if stream then
    body = body .. ',"stream":true,"stream_options":{"include_usage":true}'
end
body = body .. '}'

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. key
for pair in string.gmatch(os.getenv("BENCH_HEADERS") or "", "[^;]+") do
    local name, value = string.match(pair, "^%s*([^:]+):%s*(.-)%s*$")
    if name then wrk.headers[name] = value end
end
if stream then
    wrk.headers["Accept"] = "text/event-stream"
else
    wrk.headers["Accept"] = "application/json"
end

done = dofile(here .. "result.lua")(stream)
