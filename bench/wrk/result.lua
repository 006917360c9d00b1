-- The result line of chat.lua and messages.lua (loaded with dofile): one machine-readable line, starting
-- with "BENCH_RESULT ", holding a JSON object: requests, duration_s, rps, latency percentiles in ms (p50 to
-- p99.99; wrk measures from request write to the last byte of the response, so for a stream it is the time
-- to the end of the stream), bytes and error counts (status = responses that are not 2xx/3xx).
--
-- Returns a function of `stream` (the script's mode, copied into the line) that returns wrk's `done`.

local function ms(us) return us / 1000.0 end

return function(stream)
    return function(summary, latency, requests)
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
end
