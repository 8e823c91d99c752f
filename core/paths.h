/* Per-user directories (XDG base directory spec): data (the box store), cache (partial
 * downloads), config (config.yaml). Each is ".../envup". */
#ifndef ENVUP_CORE_PATHS_H
#define ENVUP_CORE_PATHS_H

#include "core/err.h"

/* $XDG_DATA_HOME/envup, else $HOME/.local/share/envup, as a heap string (not created). */
int paths_data_dir(char **out, struct err *e);

/* $XDG_CACHE_HOME/envup, else $HOME/.cache/envup, as a heap string (not created). */
int paths_cache_dir(char **out, struct err *e);

/* $XDG_CONFIG_HOME/envup, else $HOME/.config/envup, as a heap string (not created). */
int paths_config_dir(char **out, struct err *e);

#endif
