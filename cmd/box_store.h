/* envbox add, list, remove, outdated, update, prune (cmd/box_store.c), for cmd/box.c's table. */
#ifndef ENVUP_CMD_BOX_STORE_H
#define ENVUP_CMD_BOX_STORE_H

/* Each returns an exit code; argv[0] is the subcommand's name. */
int cmd_box_add(int argc, char **argv);
int cmd_box_list(int argc, char **argv);
int cmd_box_remove(int argc, char **argv);
int cmd_box_outdated(int argc, char **argv);
int cmd_box_update(int argc, char **argv);
int cmd_box_prune(int argc, char **argv);

#endif
