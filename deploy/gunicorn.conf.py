"""gunicorn settings for the panel behind nginx."""
import multiprocessing

bind = "unix:/run/harbormaster/gunicorn.sock"
workers = min(4, multiprocessing.cpu_count() * 2 + 1)
threads = 4
timeout = 60
graceful_timeout = 30
max_requests = 2000
max_requests_jitter = 200
accesslog = "-"
errorlog = "-"
forwarded_allow_ips = "127.0.0.1"
