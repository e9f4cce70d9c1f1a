"""The back end of Harbormaster: plain Python that does the work on disk, databases and web
servers. Nothing here imports Django or `hosting`; callers pass plain arguments and a Runner."""
