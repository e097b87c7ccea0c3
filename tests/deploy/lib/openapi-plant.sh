# shellcheck shell=bash
# Broken copies of the API documents for the planted violations of tests/deploy/openapi.test.sh
# and tests/system/openapi.test.sh. Source it; it sets no shell options.

# openapi_plant_extra_route SRC DST: writes to DST the product document SRC with one more
# operation, GET /products/{id}/reviews, which the code does not have.
openapi_plant_extra_route()
{
    awk '/^  \/health:/ {
            print "  /products/{id}/reviews:"
            print "    get:"
            print "      parameters: [{name: id, in: path, required: true, schema: {type: integer}}]"
            print "      responses:"
            print "        \"200\": {description: The reviews.}"
        } { print }' "$1" >"$2"
}
