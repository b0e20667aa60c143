# an extra call: the carried parts of run 8's rank-128 adapter (.carry/r1, r2, r3: `split -b 26500000` of its tar),
# appended to /tmp/add/r128.tar; the last one (r3, with r128tar.sha256) checks and unpacks it to /tmp/add/r128.
# A path carried by an earlier call is still there in later ones (session 9: r1 appended three times, the checksum
# failed), so each part is appended once, by name.
source .carry/dev/env.sh
mkdir -p /tmp/add
for f in .carry/r1/r128tar_* .carry/r2/r128tar_* .carry/r3/r128tar_*; do
  [ -f "$f" ] && [ ! -f /tmp/add/.has_$(basename $f) ] && cat "$f" >> /tmp/add/r128.tar && touch /tmp/add/.has_$(basename $f)
done
if [ -f .carry/r3/r128tar.sha256 ]; then
  [ "$(sha256sum /tmp/add/r128.tar | cut -d' ' -f1)" = "$(cat .carry/r3/r128tar.sha256)" ] || { echo R128 CHECKSUM MISMATCH; exit 1; }
  tar xf /tmp/add/r128.tar -C /tmp/add && ls -la /tmp/add/r128
fi
echo "calladd ok $(( $(date +%s) - $(cat /tmp/t0) )) s since t0"
