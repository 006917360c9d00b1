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
-- At the end it prints one machine-readable line, starting with "BENCH_RESULT ",
-- holding a JSON object: requests, duration_s, rps, latency percentiles in ms (p50 to p99.99)
-- (wrk measures from request write to the last byte of the response, so for a
-- stream it is the time to the end of the stream), bytes and error counts
-- (status = responses that are not 2xx/3xx).

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

local function ms(us) return us / 1000.0 end

done = function(summary, latency, requests)
    local dur_s = summary.duration / 1e6
    local e = summary.errors
    local parts = {
        string.format('"tag":"%s"', (os.getenv("BENCH_TAG") or ""):gsub('"', "'")),
        string.format('"stream":%s', stream and "true" or "false"),
        string.format('"requests":%d', summary.requests),
        string.format('"duration_s":%.3f', dur_s),
        string.format('"rps":%.2f', summary.requests / dur_s),
        string.format('"bytes":%d', summary.bytes),
        string.format('"lat_mean_ms":%.3f', ms(latency.mean)),
        string.format('"lat_stdev_ms":%.3f', ms(latency.stdev)),
        string.format('"lat_min_ms":%.3f', ms(latency.min)),
        string.format('"lat_max_ms":%.3f', ms(latency.max)),
        string.format('"p50_ms":%.3f', ms(latency:percentile(50))),
        string.format('"p75_ms":%.3f', ms(latency:percentile(75))),
        string.format('"p90_ms":%.3f', ms(latency:percentile(90))),
        string.format('"p99_ms":%.3f', ms(latency:percentile(99))),
        string.format('"p999_ms":%.3f', ms(latency:percentile(99.9))),
        string.format('"p9999_ms":%.3f', ms(latency:percentile(99.99))),
        string.format('"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}',
            e.connect, e.read, e.write, e.status, e.timeout),
    }
    io.write("BENCH_RESULT {" .. table.concat(parts, ",") .. "}\n")
end
