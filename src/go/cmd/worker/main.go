// Command worker prints the greeting and exits: a batch job in the example.
package main

import (
	"fmt"

	"example.com/app/internal/greeting"
)

func main() {
	fmt.Println(greeting.Hello("worker"))
}
