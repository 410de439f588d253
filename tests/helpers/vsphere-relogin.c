/* vsphere-relogin SERVER SECONDS: connect (credentials from the
 * environment), wait SECONDS (longer than the server's idle timeout, so
 * the session expires), then list the inventory, which must log in again
 * by itself.  Prints the number of VMs; exit 0 on success. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <vdisk/vdisk.h>

int
main (int argc, char **argv)
{
  vd_vsphere *s;
  struct vd_vsphere_inventory *inv;
  if (argc != 3) {
    fprintf (stderr, "usage: vsphere-relogin SERVER SECONDS\n");
    return 2;
  }
  if (vd_vsphere_connect (&s, argv[1], NULL, NULL, 0) < 0) {
    fprintf (stderr, "connect: %s\n", vd_last_error ()->message);
    return 1;
  }
  sleep ((unsigned) atoi (argv[2]));
  if (vd_vsphere_inventory (s, &inv) < 0) {
    fprintf (stderr, "inventory: %s\n", vd_last_error ()->message);
    vd_vsphere_close (s);
    return 1;
  }
  printf ("%zu VMs\n", inv->n_vms);
  vd_vsphere_inventory_free (inv);
  vd_vsphere_close (s);
  return 0;
}
