{
  "targets": [
    {
      "target_name": "tether_reaper",
      "sources": ["reaper.c"],
      "cflags": ["-Wall", "-Wextra", "-Werror"]
    }
  ]
}
