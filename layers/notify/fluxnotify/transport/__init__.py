"""HTTP out: requests, responses, urllib3 pools per proxy/CA, timeouts and error classes."""
