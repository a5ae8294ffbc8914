/*
 * tether_reaper: waitpid(pid, WNOHANG) for one named pid, as a Node-API addon.
 *
 * Why an addon: Node (libuv) waits only for the processes it spawned, so
 * orphans the kernel re-parents to tether when it is PID 1 would stay zombies.
 * Why one pid and never waitpid(-1): libuv waits for its own children by pid;
 * a wait on any child could take the exit status of a process libuv spawned
 * (the application under `tether exec`), whose exit would then never be seen.
 * The caller (src/lib/process-reaper.ts) names only zombies it did not spawn.
 *
 * Node-API only (<node_api.h>): one build loads on every Node with N-API 8.
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <errno.h>
#include <sys/types.h>
#include <sys/wait.h>

/*
 * reap(pid): the pid when it was reaped, 0 when it has not exited yet,
 * -errno when waitpid failed (-ECHILD: not our child, or reaped already).
 */
static napi_value Reap(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t pid = 0;
  napi_value result;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 1 || napi_get_value_int32(env, argv[0], &pid) != napi_ok || pid <= 0) {
    napi_throw_range_error(env, "ERR_TETHER_REAPER_PID", "reap(pid): pid must be a positive integer");
    return NULL;
  }
  int status = 0;
  pid_t got;
  do {
    got = waitpid((pid_t)pid, &status, WNOHANG);
  } while (got == -1 && errno == EINTR);
  napi_create_int32(env, got == -1 ? -errno : (int32_t)got, &result);
  return result;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  if (napi_create_function(env, "reap", NAPI_AUTO_LENGTH, Reap, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "reap", fn) != napi_ok) return NULL;
  return exports;
}
