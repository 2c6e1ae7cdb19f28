-- pipeline.lua - a wrk script for HTTP pipelining: every write carries
-- DEPTH requests for wrk's URL (16 unless the first script argument, after
-- "--" on wrk's command line, says otherwise).  wrk counts each answer as
-- one request.  Used by bench-http.sh.
local depth = 16

function init(args)
  if args[1] ~= nil then
    depth = tonumber(args[1])
  end
  local reqs = {}
  for i = 1, depth do
    reqs[i] = wrk.format()
  end
  batch = table.concat(reqs)
end

function request()
  return batch
end
