source .carry/dev/env.sh
cp .carry/b/gpart_ab /tmp/gg/
echo "call2 ok $(( $(date +%s) - $(cat /tmp/t0) )) s since t0"
