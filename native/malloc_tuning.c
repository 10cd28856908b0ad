// c2dns malloc tuning: one call, mallopt(M_MMAP_THRESHOLD, bytes), made once at start-up by
// src/server/process.ts (boundMallocRetention). Why: a list update builds ~100 MB of typed-array
// tables per 1M names, in chunks of 4-20 MB. glibc serves the first ones with mmap, but freeing an
// mmapped chunk raises its dynamic threshold up to 32 MB, so every later table comes from a malloc
// arena, and an arena keeps what is freed: RSS after each reload stayed ~150 MB above what was
// alive (issue 11). A fixed threshold keeps big chunks mmapped, and the kernel gets them back as
// soon as V8 frees a replaced table. Small allocations (the hot path's) are unaffected.
//
// JavaScript API: setMmapThreshold(bytes) -> true when glibc took it, false elsewhere (musl, or
// a value glibc refuses).
#include <node_api.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

static napi_value set_mmap_threshold(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int64_t bytes = 0;
  bool ok = false;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok && argc == 1 &&
      napi_get_value_int64(env, argv[0], &bytes) == napi_ok && bytes > 0 && bytes <= (int64_t)1 << 30) {
#ifdef __GLIBC__
    ok = mallopt(M_MMAP_THRESHOLD, (int)bytes) == 1;
#endif
  }
  napi_value result;
  napi_get_boolean(env, ok, &result);
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn;
  if (napi_create_function(env, "setMmapThreshold", NAPI_AUTO_LENGTH, set_mmap_threshold, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "setMmapThreshold", fn) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
