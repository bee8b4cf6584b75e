-- wrk script: POST one ~120-byte event to the trigger API
wrk.method = "POST"
wrk.body = '{"name":"bench.order.created","data":{"order":12345,"total":99.5,"currency":"EUR","items":["a","b"]}}'
wrk.headers["Content-Type"] = "application/json"
